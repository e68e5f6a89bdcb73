"""Judgments are append-only, enforced by PostgreSQL itself.

A trigger refuses every UPDATE of a judgment row, and every DELETE except inside the
transaction of ``services.deletion.study_delete``, which first writes an export and then
sets the transaction-local setting ``annotations.deleting_study`` to the study's id: only
judgments of *that* study may go. Anything else (a stray ORM ``update()``, an admin deleting
a rater or a panel with judgments, a hand-written SQL statement) fails with SQLSTATE 23000
and changes nothing.

SQLite has no such trigger (the embedded default is for trying the platform out); there
the services are the only writers, and none of them updates or deletes a judgment.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION annotations_judgment_append_only() RETURNS trigger AS $$
DECLARE
    deleting text := current_setting('annotations.deleting_study', true);
    owner bigint;
BEGIN
    IF TG_OP = 'DELETE' AND deleting IS NOT NULL AND deleting <> '' THEN
        SELECT p.study_id INTO owner
          FROM annotations_assignment a
          JOIN annotations_rater r ON r.id = a.rater_id
          JOIN annotations_panel p ON p.id = r.panel_id
         WHERE a.id = OLD.assignment_id;
        IF owner IS NULL OR owner::text = deleting THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'judgments are append-only: % of judgment % refused', TG_OP, OLD.id
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'A judgment is never changed or removed. Only deleting its whole study '
                     '(services.deletion.study_delete, which exports it first) removes it.';
END
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
CREATE TRIGGER annotations_judgment_append_only
BEFORE UPDATE OR DELETE ON annotations_judgment
FOR EACH ROW EXECUTE FUNCTION annotations_judgment_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS annotations_judgment_append_only ON annotations_judgment;
DROP FUNCTION IF EXISTS annotations_judgment_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)
        schema_editor.execute(TRIGGER, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("annotations", "0003_rater_qualification_failed"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
