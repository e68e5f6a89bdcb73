from django.core.management.base import BaseCommand

from annotations.services.lifecycle import study_score

from ._base import get_study


class Command(BaseCommand):
    help = "Enqueue automatic scoring of every candidate of a study (and the model judge of its comparisons)."

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, *args, slug, **options):
        job = study_score(study=get_study(slug))
        self.stdout.write(f"scoring job {job.id} is {job.status}; follow it in the admin (Jobs) or GET /api/jobs/{job.id}/")
