from django.core.management.base import BaseCommand, CommandError

from annotations.services.exports import FORMATS, judgments_export

from ._base import get_study


class Command(BaseCommand):
    help = ("Export every judgment of a study with its provenance, one row per judgment "
            "(raters under their pseudonym; --with-external-ids adds crowd-platform ids).")

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Study slug.")
        parser.add_argument("--format", choices=FORMATS, default="csv", help="File format (default csv).")
        parser.add_argument("-o", "--output", required=True, help="Output file; '-' writes CSV / JSONL to stdout.")
        parser.add_argument("--with-external-ids", action="store_true",
                            help="Add the raters' external ids (personal data: share with care).")

    def handle(self, *args, slug, format, output, with_external_ids, **options):
        study = get_study(slug)
        if output == "-":
            if format == "parquet":
                raise CommandError("Parquet cannot be written to stdout: give a file with -o")
            judgments_export(study=study, fmt=format, target=self.stdout, with_external_ids=with_external_ids)
            return
        try:
            n = judgments_export(study=study, fmt=format, target=output, with_external_ids=with_external_ids)
        except OSError as exc:
            raise CommandError(f"{output}: {exc.strerror or exc}") from None
        self.stderr.write(f"exported {n} judgments of '{slug}' to {output} ({format})")
