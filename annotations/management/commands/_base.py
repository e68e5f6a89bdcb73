"""Shared helpers for the command-line interface."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotations.models import Study
from annotations.services.tables import ImportFailed


def get_study(slug: str) -> Study:
    try:
        return Study.objects.get(slug=slug)
    except Study.DoesNotExist:
        raise CommandError(f"no study with slug '{slug}' (create it with create_study)") from None


class ImportCommand(BaseCommand):
    """``<command> SLUG FILE``: read the file, call one import service, report what was created."""

    service = None  # set by subclasses
    what = ""

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Study slug.")
        parser.add_argument("file", help="CSV, JSON or JSONL file (UTF-8).")

    def handle(self, *args, slug, file, **options):
        study = get_study(slug)
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        try:
            result = type(self).service(study=study, data=path.read_bytes(), filename=path.name)
        except ImportFailed as exc:
            exc.filename = str(file)
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"imported into '{slug}': {result}")
