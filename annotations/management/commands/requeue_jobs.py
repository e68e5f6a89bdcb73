from datetime import timedelta

from django.core.management.base import BaseCommand

from annotations.services.jobs import jobs_requeue_stale


class Command(BaseCommand):
    help = ("Send again jobs whose message may be lost: pending ones (e.g. enqueued while the broker was down) "
            "and running ones whose worker stopped sending heartbeats. Safe to run any time (e.g. from cron).")

    def add_arguments(self, parser):
        parser.add_argument("--pending-older-than", type=int, default=None, metavar="SECONDS",
                            help="Re-send pending jobs older than this (default: JOB_STALE_SECONDS).")

    def handle(self, *args, pending_older_than=None, **options):
        age = None if pending_older_than is None else timedelta(seconds=pending_older_than)
        sent = jobs_requeue_stale(pending_older_than=age)
        self.stdout.write(f"sent {len(sent)} job(s) again" + (f": {', '.join(map(str, sent))}" if sent else ""))
