"""The main job: a demo study from bundled briefs, end to end, served on this machine.

Steps (each reused on a second run): migrate; an admin account; the demo study with 12
bundled briefs and three conditions (base, fine-tuned, steered); a worker process; the LoRA
adapter and the creativity direction (jobs on the worker); candidates generated and scored
(jobs); comparisons with attention checks; panels and an expert invite; optional simulated
raters; then the web server, and the links to open.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotations.models import Brief, Condition, Invite, Job, Panel, Study
from annotations.services import imports, jobs
from annotations.services.lifecycle import study_generate, study_score
from annotations.services.raters import invites_create
from annotations.services.studies import condition_create, panel_create, study_create

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "demo_briefs.csv"
SLUG = "demo"
DECODING = {"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 60}
STEER_ALPHA = 8.0


class Command(BaseCommand):
    help = "Set up and serve the demo study: generate, score, open, and print the rater and researcher links."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
        parser.add_argument("--samples", type=int, default=3, help="Samples per brief and condition.")
        parser.add_argument("--simulate-raters", type=int, default=0,
                            help="Add N simulated raters (marked as simulated everywhere) so the report fills.")
        parser.add_argument("--no-serve", action="store_true", help="Prepare everything, then exit.")
        parser.add_argument("--finetune-steps", type=int, default=None, help="LoRA training steps.")

    def handle(self, *args, host, port, samples, simulate_raters, no_serve, finetune_steps, **options):
        self.children: list[subprocess.Popen] = []
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        try:
            self.step("migrating the database")
            call_command("migrate", interactive=False, verbosity=0)
            password = self.admin_account()
            study = self.demo_study(samples)
            self.start_worker()
            self.prepare_conditions(study, finetune_steps)
            self.wait(study_generate(study=study), "generating candidates")
            from annotations.services.pairing import study_open

            result = study_open(study=study)
            self.step(f"opened the study: {result}")
            self.wait(study_score(study=study), "scoring candidates and judging pairs")
            invite = self.panels(study)
            if simulate_raters:
                from annotations.services.simulation import simulate_raters as simulate

                self.step(f"simulating {simulate_raters} raters")
                simulate(study=study, n=simulate_raters)
            if no_serve:
                self.print_links(host, port, password, invite)
                return
            self.serve(host, port)
            self.print_links(host, port, password, invite)
            self.stdout.write("Press Ctrl-C to stop.")
            while all(child.poll() is None for child in self.children):
                time.sleep(1)
            raise CommandError("a demo process stopped: " + ", ".join(
                f"{' '.join(c.args[2:4])} exited {c.returncode}" for c in self.children if c.poll() is not None))
        except KeyboardInterrupt:
            self.stdout.write("stopping")
        finally:
            for child in self.children:
                if child.poll() is None:
                    child.terminate()
            for child in self.children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()

    def step(self, message: str) -> None:
        self.stdout.write(f"* {message}")
        self.stdout.flush()

    def admin_account(self) -> str:
        """An admin login kept under var/ so a second run prints the same one."""
        path = Path(settings.VAR_DIR) / "demo_admin_password"
        User = get_user_model()
        if path.exists() and User.objects.filter(username="admin").exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        path.write_text(password)
        path.chmod(0o600)
        return password

    def demo_study(self, samples: int) -> Study:
        study = Study.objects.filter(slug=SLUG).first()
        if study is None:
            study = study_create(slug=SLUG, title="Demo: base vs fine-tuned vs steered", task=Study.Task.PAIRWISE,
                                 samples_per_condition=samples, target_per_item=3, attention_check_rate=0.1)
            self.step(f"created study '{SLUG}'")
        if not Brief.objects.filter(study=study).exists():
            result = imports.briefs_import(study=study, data=FIXTURE.read_bytes(), filename=FIXTURE.name)
            self.step(f"imported {result}")
        for name, kind, extra in (("base", Condition.Kind.BASE, {}),
                                  ("fine-tuned", Condition.Kind.FINE_TUNED, {}),
                                  ("steered", Condition.Kind.STEERED, {"alpha": STEER_ALPHA})):
            if not Condition.objects.filter(study=study, name=name).exists():
                condition_create(study=study, name=name, kind=kind, settings={"decoding": DECODING, **extra})
        return study

    def start_worker(self) -> None:
        self.step("starting a worker (queues default and gpu)")
        self.children.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "evalplatform", "worker", "-Q", "default,gpu", "--pool", "solo",
             "-l", "warning", "--without-heartbeat", "--without-mingle", "--without-gossip"],
            cwd=settings.BASE_DIR))

    def prepare_conditions(self, study: Study, finetune_steps) -> None:
        tuned = study.conditions.get(name="fine-tuned")
        if not (tuned.settings or {}).get("adapter"):
            params = {"steps": finetune_steps} if finetune_steps else {}
            self.wait(jobs.job_enqueue(kind=Job.Kind.TRAIN_ADAPTER, study=study, condition=tuned, params=params),
                      "training the LoRA adapter")
        steered = study.conditions.get(name="steered")
        if not (steered.settings or {}).get("direction"):
            self.wait(jobs.job_enqueue(kind=Job.Kind.EXTRACT_DIRECTION, study=study, condition=steered),
                      "extracting the creativity direction")

    def wait(self, job: Job, label: str) -> Job:
        """Follow a job run by the worker, with a progress bar; stop with its message if it fails."""
        with tqdm(total=100, desc=label, unit="%", bar_format="{l_bar}{bar}| {elapsed} {postfix}") as bar:
            while True:
                job.refresh_from_db()
                bar.n = int(job.progress * 100)
                bar.set_postfix_str(", ".join(f"{k} {v}" for k, v in job.progress_detail.items())[:60])
                bar.refresh()
                if job.status == Job.Status.SUCCEEDED:
                    return job
                if job.status == Job.Status.FAILED:
                    raise CommandError(f"{label} failed: {job.error}")
                if any(child.poll() is not None for child in self.children):
                    raise CommandError(f"the worker stopped while {label}")
                time.sleep(1)

    def panels(self, study: Study) -> Invite:
        if not Panel.objects.filter(study=study, name="experts").exists():
            panel_create(study=study, name="experts", kind=Panel.Kind.EXPERT)
        if not Panel.objects.filter(study=study, name="crowd").exists():
            panel_create(study=study, name="crowd", kind=Panel.Kind.CROWD, completion_code="DEMO-DONE")
        experts = Panel.objects.get(study=study, name="experts")
        return (Invite.objects.filter(panel=experts, revoked_at=None).first()
                or invites_create(panel=experts, labels=["demo expert"])[0])

    def serve(self, host: str, port: int) -> None:
        self.step(f"serving on http://{host}:{port}/")
        self.children.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "evalplatform.wsgi:application", "--bind", f"{host}:{port}",
             "--workers", "2", "--threads", "4", "--log-level", "warning"], cwd=settings.BASE_DIR))
        import urllib.request

        for _ in range(60):
            try:
                urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise CommandError(f"the web server did not answer on http://{host}:{port}/")

    def print_links(self, host: str, port: int, password: str, invite: Invite) -> None:
        base = f"http://{host}:{port}"
        self.stdout.write("\nThe demo study is open.\n"
                          f"  admin login      {base}/admin/   user admin, password {password}\n"
                          f"  expert invite    {base}/invite/{invite.token}/\n"
                          f"  crowd link       {base}/join/{SLUG}/?PROLIFIC_PID=demo-worker-1&STUDY_ID=demo&SESSION_ID=s1\n"
                          f"  research report  {base}/studies/{SLUG}/report/\n")
        self.stdout.flush()
