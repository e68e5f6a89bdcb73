from annotations.services.imports import briefs_import

from ._base import ImportCommand


class Command(ImportCommand):
    help = "Import briefs into a study (CSV, JSON or JSONL). All-or-nothing; errors name the row and column."
    service = briefs_import
