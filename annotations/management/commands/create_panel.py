from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotations.models import Panel
from annotations.services.studies import panel_create

from ._base import get_study


class Command(BaseCommand):
    help = "Create a rater panel (expert or crowd) for a study."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("name")
        parser.add_argument("--kind", choices=Panel.Kind.values, required=True)
        parser.add_argument("--id-param", default="PROLIFIC_PID", help="Query parameter with the crowd worker id.")
        parser.add_argument("--completion-code", default="", help="Code shown when a rater finishes.")
        parser.add_argument("--completion-url", default="", help="Redirect when a rater finishes.")
        parser.add_argument("--max-items", type=int, default=None, help="Cap on items per rater.")

    def handle(self, *args, slug, name, kind, id_param, completion_code, completion_url, max_items, **options):
        study = get_study(slug)
        try:
            panel = panel_create(study=study, name=name, kind=kind, id_param=id_param,
                                 completion_code=completion_code, completion_url=completion_url,
                                 max_items_per_rater=max_items)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"created {panel.kind} panel '{panel.name}' for '{study.slug}'")
