"""Imports are all-or-nothing and their errors name the row, the column and the problem."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotations.models import Assignment, Brief, Candidate, Comparison, Condition, Judgment, Panel, Rater, Score
from annotations.services.imports import briefs_import, candidates_import, judgments_import
from annotations.services.studies import study_create
from annotations.services.tables import ImportFailed

pytestmark = pytest.mark.django_db


def counts():
    return [m.objects.count() for m in (Brief, Candidate, Condition, Score, Comparison, Panel, Rater, Assignment, Judgment)]


@pytest.fixture
def study():
    return study_create(slug="ads", task="pairwise")


@pytest.fixture
def rating_study():
    return study_create(slug="stories", task="rating", criteria=["surprise", "overall"])


def briefs_csv(*rows):
    return ("id,title,text,kind\n" + "".join(r + "\n" for r in rows)).encode()


def refused(service, study, data, filename="f.csv"):
    before = counts()
    with pytest.raises(ImportFailed) as info:
        service(study=study, data=data, filename=filename)
    assert counts() == before, "a refused import changed the database"
    return [str(e) for e in info.value.errors]


class TestBriefs:
    def test_it_imports_csv_with_a_bom_and_quoted_commas(self, study):
        data = "\ufeffid,title,text,kind,client\nb1,Soda,\"Re-imagine a soda, boldly\",idea,Fizz\n".encode()
        result = briefs_import(study=study, data=data, filename="b.csv")
        brief = Brief.objects.get()
        assert result.created == {"briefs": 1}
        assert (brief.external_id, brief.text, brief.kind, brief.metadata) == ("b1", "Re-imagine a soda, boldly", "idea", {"client": "Fizz"})

    def test_it_imports_json_and_jsonl(self, study):
        briefs_import(study=study, data=json.dumps([{"id": "j1", "text": "A"}]).encode(), filename="b.json")
        briefs_import(study=study, data=b'{"id": "l1", "text": "B", "kind": "art direction"}\n\n', filename="b.jsonl")
        assert dict(Brief.objects.values_list("external_id", "kind")) == {"j1": "idea", "l1": "art_direction"}

    def test_it_names_the_bad_row_and_column_and_saves_nothing(self, study):
        errors = refused(briefs_import, study, briefs_csv("b1,A,fine,idea", "b2,B,,headline", "b3,C,fine,naming"))
        assert errors == ["row 2, column 'text': is empty"]

    def test_the_same_file_fixed_imports_completely(self, study):
        refused(briefs_import, study, briefs_csv("b1,A,fine,idea", "b2,B,,headline"))
        briefs_import(study=study, data=briefs_csv("b1,A,fine,idea", "b2,B,now fixed,headline"), filename="b.csv")
        assert Brief.objects.count() == 2

    def test_it_rejects_duplicate_ids_in_the_file_and_in_the_study(self, study):
        errors = refused(briefs_import, study, briefs_csv("b1,A,x,idea", "b1,B,y,idea"))
        assert errors == ["row 2, column 'id': duplicate brief id 'b1' (first on row 1)"]
        briefs_import(study=study, data=briefs_csv("b9,A,x,idea"), filename="b.csv")
        assert refused(briefs_import, study, briefs_csv("b9,A,x,idea")) == [
            "row 1, column 'id': brief id 'b9' already exists in this study"]

    def test_it_rejects_an_unknown_kind(self, study):
        errors = refused(briefs_import, study, briefs_csv("b1,A,x,poem"))
        assert errors[0].startswith("row 1, column 'kind': unknown kind 'poem'")

    def test_it_rejects_missing_columns(self, study):
        errors = refused(briefs_import, study, b"id,title\nb1,A\n")
        assert "needs the column(s) 'text'" in errors[0]

    def test_it_rejects_a_file_that_is_not_utf8(self, study):
        errors = refused(briefs_import, study, "id,text\nb1,caf\xe9\n".encode("latin-1"))
        assert "not UTF-8" in errors[0] and "line 2" in errors[0]

    def test_it_refuses_an_oversized_file(self, study, settings):
        settings.IMPORT_MAX_BYTES = 100
        errors = refused(briefs_import, study, briefs_csv(*[f"b{i},A,some text,idea" for i in range(20)]))
        assert "limit is 100 bytes" in errors[0]

    def test_it_rejects_a_row_with_too_many_fields(self, study):
        assert refused(briefs_import, study, briefs_csv("b1,A,x,idea,extra")) == [
            "row 1: has 5 fields, the header has 4"]

    def test_it_rejects_malformed_json(self, study):
        assert "not valid JSON" in refused(briefs_import, study, b"[{", filename="b.json")[0]
        assert refused(briefs_import, study, b'{"id": "x", "text": "y"}\n[1]\n', filename="b.jsonl") == [
            "row 2: expected a JSON object, got list"]

    def test_it_rejects_an_unknown_file_type(self, study):
        assert "unsupported file type" in refused(briefs_import, study, b"x", filename="b.xlsx")[0]


@pytest.fixture
def briefs(study):
    briefs_import(study=study, data=briefs_csv("b1,A,Name a tea,naming", "b2,B,Headline for a museum,headline"),
                  filename="b.csv")


CANDIDATES = (
    "id,brief,condition,text,reference,score:novelty\n"
    "c1,b1,base,Tea One,,0.1\n"
    "c2,b1,steered,Leaf Riot,,0.9\n"
    "c3,b2,base,Visit the museum,,\n"
    "c4,b2,human,Night of the living art,true,0.7\n"
)


class TestCandidates:
    def test_it_imports_candidates_scores_and_new_conditions(self, study, briefs):
        result = candidates_import(study=study, data=CANDIDATES.encode(), filename="c.csv")
        assert result.created == {"candidates": 4, "scores": 3, "new conditions": 3}
        assert dict(Condition.objects.values_list("name", "reference")) == {"base": False, "steered": False, "human": True}
        assert Score.objects.get(candidate__external_id="c2", name="novelty").value == 0.9
        assert sorted(Candidate.objects.filter(condition__name="base").values_list("sample_index", flat=True)) == [0, 0]

    def test_it_rejects_an_unknown_brief(self, study, briefs):
        errors = refused(candidates_import, study, b"id,brief,condition,text\nc1,b7,base,x\n")
        assert errors == ["row 1, column 'brief': unknown brief 'b7': import it with import_briefs first"]

    def test_it_rejects_a_score_that_is_not_a_number(self, study, briefs):
        errors = refused(candidates_import, study, b"id,brief,condition,text,score:x\nc1,b1,base,t,0.5\nc2,b1,base,t,high\n")
        assert errors == ["row 2, column 'score:x': 'high' is not a number"]

    def test_it_rejects_a_condition_that_is_reference_on_one_row_only(self, study, briefs):
        errors = refused(candidates_import, study,
                         b"id,brief,condition,text,reference\nc1,b1,human,t,true\nc2,b2,human,t,false\n")
        assert errors == ["row 2, column 'reference': condition 'human' has reference=True on row 1"]

    def test_it_rejects_duplicate_candidate_ids(self, study, briefs):
        candidates_import(study=study, data=CANDIDATES.encode(), filename="c.csv")
        errors = refused(candidates_import, study, b"id,brief,condition,text\nc1,b1,base,again\n")
        assert errors == ["row 1, column 'id': candidate id 'c1' already exists in this study"]

    def test_later_imports_continue_the_sample_index(self, study, briefs):
        candidates_import(study=study, data=CANDIDATES.encode(), filename="c.csv")
        candidates_import(study=study, data=b"id,brief,condition,text\nc9,b1,base,more\n", filename="c2.csv")
        assert Candidate.objects.get(external_id="c9").sample_index == 1


@pytest.fixture
def candidates(study, briefs):
    candidates_import(study=study, data=CANDIDATES.encode(), filename="c.csv")


class TestPairwiseJudgments:
    def test_it_imports_pairs_raters_and_judgments(self, study, candidates):
        data = (b"rater,criterion,item_a,item_b,choice,panel,strength\n"
                b"w1,overall,c1,c2,b,crowd,strong\nw1,novelty,c1,c2,tie,crowd,\nw2,overall,c2,c1,a,crowd,\n")
        result = judgments_import(study=study, data=data, filename="j.csv")
        assert result.created["judgments"] == 3 and result.created["comparisons"] == 1
        assert result.created["assignments"] == 2
        comp = Comparison.objects.get()
        # w2 listed the pair reversed and chose its first item (c2): canonically that is c2's side.
        w2 = Judgment.objects.get(assignment__rater__external_id="w2")
        winner = comp.candidate_a if w2.choice == "a" else comp.candidate_b
        assert winner.external_id == "c2"
        assert Judgment.objects.get(assignment__rater__external_id="w1", criterion="overall").strength == 3

    def test_it_rejects_a_pair_across_briefs(self, study, candidates):
        errors = refused(judgments_import, study, b"rater,criterion,item_a,item_b,choice\nw1,overall,c1,c3,a\n")
        assert errors == ["row 1, column 'item_b': 'c3' answers a different brief than 'c1'"]

    def test_it_rejects_a_bad_choice_and_an_unknown_criterion(self, study, candidates):
        errors = refused(judgments_import, study, b"rater,criterion,item_a,item_b,choice\nw1,overall,c1,c2,left\n"
                                                  b"w1,beauty,c1,c2,a\n")
        assert errors[0] == "row 1, column 'choice': 'left' is not a, b or tie"
        assert errors[1].startswith("row 2, column 'criterion': unknown criterion 'beauty'")

    def test_it_rejects_the_same_judgment_twice_even_with_the_pair_reversed(self, study, candidates):
        errors = refused(judgments_import, study, b"rater,criterion,item_a,item_b,choice\n"
                                                  b"w1,overall,c1,c2,a\nw1,overall,c2,c1,b\n")
        assert errors[0].startswith("row 2: duplicate judgment: rater 'w1'")

    def test_it_rejects_a_rater_in_the_wrong_panel(self, study, candidates):
        judgments_import(study=study, data=b"rater,criterion,item_a,item_b,choice,panel\nw1,overall,c1,c2,a,experts\n",
                         filename="j.csv")
        errors = refused(judgments_import, study, b"rater,criterion,item_a,item_b,choice,panel\n"
                                                  b"w1,novelty,c1,c2,a,crowd\n")
        assert errors == ["row 1, column 'panel': rater 'w1' belongs to panel 'experts', not 'crowd'"]

    def test_it_rejects_a_judgment_already_in_the_study(self, study, candidates):
        data = b"rater,criterion,item_a,item_b,choice\nw1,overall,c1,c2,a\n"
        judgments_import(study=study, data=data, filename="j.csv")
        errors = refused(judgments_import, study, data)
        assert "already has a judgment of this item on 'overall'" in errors[0]

    def test_it_rejects_rating_columns_in_a_pairwise_study(self, study, candidates):
        errors = refused(judgments_import, study, b"rater,criterion,item,value\nw1,overall,c1,3\n")
        assert "a pairwise judgments file needs the column(s) 'item_a', 'item_b', 'choice'" in errors[0]


class TestRatingJudgments:
    @pytest.fixture
    def items(self, rating_study):
        briefs_import(study=rating_study, data=b"id,text\np1,A prompt\n", filename="b.csv")
        candidates_import(study=rating_study, data=b"id,brief,condition,text\ns1,p1,gpt,story one\ns2,p1,human,story two\n",
                          filename="c.csv")

    def test_it_imports_ratings(self, rating_study, items):
        data = b"rater,criterion,item,value\nw1,surprise,s1,4\nw1,overall,s1,5\nw2,surprise,s1,2\n"
        result = judgments_import(study=rating_study, data=data, filename="j.csv")
        assert result.created["judgments"] == 3 and result.created["assignments"] == 2
        assert Panel.objects.get().name == "imported"

    def test_it_rejects_a_value_off_the_scale(self, rating_study, items):
        errors = refused(judgments_import, rating_study, b"rater,criterion,item,value\nw1,surprise,s1,9\n")
        assert errors == ["row 1, column 'value': 9 is outside the study's scale 1-5"]

    def test_it_rejects_an_unknown_item(self, rating_study, items):
        errors = refused(judgments_import, rating_study, b"rater,criterion,item,value\nw1,surprise,zz,3\n")
        assert errors == ["row 1, column 'item': unknown candidate 'zz'"]


class TestCommands:
    def test_a_bad_file_exits_non_zero_naming_the_row(self, study, tmp_path):
        path = tmp_path / "bad.csv"
        path.write_bytes(briefs_csv("b1,A,fine,idea", "b2,B,,headline"))
        with pytest.raises(CommandError, match=r"row 2, column 'text': is empty"):
            call_command("import_briefs", "ads", str(path))
        assert Brief.objects.count() == 0

    def test_create_study_uses_the_default_criteria(self, db):
        call_command("create_study", "fresh", "--task", "rating")
        from annotations.models import Study

        assert Study.objects.get(slug="fresh").criterion_names == ["novelty", "value", "surprise", "overall"]

    def test_an_unknown_study_is_a_clear_error(self, db, tmp_path):
        (tmp_path / "b.csv").write_bytes(briefs_csv("b1,A,x,idea"))
        with pytest.raises(CommandError, match="no study with slug 'nope'"):
            call_command("import_briefs", "nope", str(tmp_path / "b.csv"))
