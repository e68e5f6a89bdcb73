from django.core.management.base import BaseCommand

from annotations.services.pairing import study_close

from ._base import get_study


class Command(BaseCommand):
    help = "Close a study: raters get no new items (leases already held may still be judged)."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Study slug.")

    def handle(self, *args, slug, **options):
        study_close(study=get_study(slug))
        self.stdout.write(f"closed '{slug}'")
