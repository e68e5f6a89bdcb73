"""100 raters in parallel on PostgreSQL: every item ends with exactly its target per panel.

The raters are served by a pool of threads (each with its own database connection) that
interleave single steps of different raters, so many raters ask for the last slots of the
same items at the same moment. Duplicate submissions (the same client key twice, from two
threads at once) are mixed in.
"""

import queue
import random
import threading
import uuid
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from annotations.models import Assignment, Comparison, Judgment, Rater
from annotations.services.assignment import State, assignment_next
from annotations.services.judging import JudgingRefused, judgment_record
from annotations.services.studies import panel_create

from .conftest import make_study

pytestmark = [pytest.mark.slow, pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")]

THREADS = 16
RATERS = 100


@pytest.mark.django_db(transaction=True)
def test_a_hundred_parallel_raters_fill_every_item_exactly_to_its_target():
    study = make_study(slug="parallel", briefs=3, samples=2, target=3, rate=0.1)
    panels = [panel_create(study=study, name=f"panel{p}", max_items_per_rater=5) for p in range(2)]
    raters = [Rater.objects.create(panel=panels[i % 2], external_id=f"w{i}", consent_at=timezone.now())
              for i in range(RATERS)]
    work: queue.Queue = queue.Queue()
    for r in random.Random(1).sample(raters, len(raters)):
        work.put(r.pk)
    accepted, replayed, errors = Counter(), Counter(), []
    lock = threading.Lock()

    def submit_twice(assignment, rater, key):
        """The same submission from two threads at once: one stores it, the other replays it."""
        results = []

        def send():
            try:
                results.append(judgment_record(assignment=assignment, rater=rater, choices={"overall": "left"},
                                               client_key=key, seconds=5))
            finally:
                connection.close()

        twins = [threading.Thread(target=send) for _ in range(2)]
        [t.start() for t in twins]
        [t.join() for t in twins]
        return results

    def worker(seed):
        rng = random.Random(seed)
        try:
            while True:
                try:
                    rater_id = work.get_nowait()
                except queue.Empty:
                    return
                rater = Rater.objects.select_related("panel__study").get(pk=rater_id)
                result = assignment_next(rater=rater, rng=rng)
                if result.state == State.BUSY:
                    work.put(rater_id)
                    continue
                if result.state != State.ITEM:
                    continue
                key = str(uuid.uuid4())
                if rng.random() < 0.2:
                    results = submit_twice(result.assignment, rater, key)
                else:
                    results = [judgment_record(assignment=result.assignment, rater=rater, choices={"overall": "left"},
                                               client_key=key, seconds=5)]
                    if rng.random() < 0.2:  # a retry after a lost response
                        results.append(judgment_record(assignment=result.assignment, rater=rater,
                                                       choices={"overall": "left"}, client_key=key, seconds=5))
                with lock:
                    for r in results:
                        (replayed if r.replayed else accepted)[key] += 1
                work.put(rater_id)
        except (JudgingRefused, Exception) as exc:  # collected and asserted below, never hidden
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    [t.start() for t in threads]
    [t.join(timeout=300) for t in threads]
    assert not errors, errors[:5]
    assert all(not t.is_alive() for t in threads)

    real = list(Comparison.objects.filter(study=study, attention_check=False).values_list("pk", flat=True))
    for panel in panels:
        done = Counter(Assignment.objects.filter(rater__panel=panel, status="done", comparison__attention_check=False)
                       .values_list("comparison_id", flat=True))
        assert {c: done[c] for c in real} == {c: study.target_per_item for c in real}, panel.name
    assert Judgment.objects.count() == Assignment.objects.filter(status="done").count() == len(accepted)
    assert set(accepted.values()) == {1}  # every key stored exactly once
    pairs = list(Assignment.objects.values_list("rater_id", "comparison_id"))
    assert len(pairs) == len(set(pairs))
    assert not Assignment.objects.filter(status="leased").exists()
