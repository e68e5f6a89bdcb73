from annotations.services.imports import candidates_import

from ._base import ImportCommand


class Command(ImportCommand):
    help = "Import candidates into a study (CSV, JSON or JSONL). All-or-nothing; errors name the row and column."
    service = candidates_import
