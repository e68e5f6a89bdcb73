from annotations.services.imports import judgments_import

from ._base import ImportCommand


class Command(ImportCommand):
    help = "Import judgments into a study (CSV, JSON or JSONL). All-or-nothing; errors name the row and column."
    service = judgments_import
