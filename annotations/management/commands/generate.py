from django.core.management.base import BaseCommand

from annotations.services.lifecycle import study_generate

from ._base import get_study


class Command(BaseCommand):
    help = "Enqueue generation of every missing candidate of a study (brief x condition x sample)."

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, *args, slug, **options):
        job = study_generate(study=get_study(slug))
        self.stdout.write(f"generation job {job.id} is {job.status}; follow it in the admin (Jobs) or GET /api/jobs/{job.id}/")
