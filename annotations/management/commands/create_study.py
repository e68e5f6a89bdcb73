from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotations.models import Study
from annotations.services.studies import study_create


class Command(BaseCommand):
    help = "Create a study."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--title", default="")
        parser.add_argument("--task", choices=Study.Task.values, default=Study.Task.PAIRWISE)
        parser.add_argument("--criteria", default="", help="Comma-separated criteria (default: novelty,value,surprise,overall).")
        parser.add_argument("--target", type=int, default=3, help="Judgments per item per panel.")
        parser.add_argument("--attention-rate", type=float, default=0.1, help="Share of attention-check items.")
        parser.add_argument("--scale", default="1-5", help="Rating scale, e.g. 1-5 or 1-7.")

    def handle(self, *args, slug, title, task, criteria, target, attention_rate, scale, **options):
        try:
            low, high = (int(x) for x in scale.split("-", 1))
        except ValueError:
            raise CommandError(f"--scale must look like 1-5, not '{scale}'") from None
        names = [c for c in criteria.split(",") if c.strip()] or None
        try:
            study = study_create(slug=slug, title=title, task=task, criteria=names, target_per_item=target,
                                 attention_check_rate=attention_rate, likert_min=low, likert_max=high)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"created study '{study.slug}' ({study.task}; criteria {', '.join(study.criterion_names)})")
