from django.core.management.base import BaseCommand, CommandError

from annotations.services.deletion import StudyDeleteRefused, study_delete

from ._base import get_study


class Command(BaseCommand):
    help = ("Delete a study and everything in it, after writing every judgment and the study's set-up to "
            "STUDY_DELETE_EXPORT_DIR. Confirm by repeating the slug.")

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Study slug.")
        parser.add_argument("--confirm", required=True, help="The study's slug again.")

    def handle(self, *args, slug, confirm, **options):
        try:
            result = study_delete(study=get_study(slug), confirm=confirm)
        except StudyDeleteRefused as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"deleted '{slug}'; {result.judgments} judgment(s) exported first to {result.export_dir}")
