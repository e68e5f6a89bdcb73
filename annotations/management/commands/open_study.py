from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotations.services.pairing import DEFAULT_MAX_PAIRS_PER_CONDITION_PAIR, study_open

from ._base import get_study


class Command(BaseCommand):
    help = ("Build the comparisons (or rating items) with attention checks and open the study to its panels. "
            "Safe to run again: only what is missing is added.")

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Study slug.")
        parser.add_argument("--max-pairs", type=int, default=DEFAULT_MAX_PAIRS_PER_CONDITION_PAIR,
                            help="Per brief and pair of conditions: build every pair up to this many, "
                                 "else a balanced subset (default %(default)s).")
        parser.add_argument("--seed", type=int, default=0, help="Seed for pairing and decoys.")

    def handle(self, *args, slug, max_pairs, seed, **options):
        study = get_study(slug)
        try:
            result = study_open(study=study, max_pairs_per_condition_pair=max_pairs, seed=seed)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"opened '{slug}': {result}")
