"""Forms of the rater pages. Built from the study (criteria, scale) so validation matches the page."""

from django import forms

from annotations.services.judging import SKIP_REASONS

SIDES = [("left", "Left"), ("right", "Right")]
STRENGTHS = [("", "No strength"), ("1", "Slight"), ("2", "Clear"), ("3", "Strong")]


class JoinForm(forms.Form):
    external_id = forms.CharField(max_length=128, label="Your id on the crowd platform", strip=True)


class ConsentForm(forms.Form):
    agree = forms.BooleanField(required=True, label="I have read the above and agree to take part.",
                               widget=forms.CheckboxInput(attrs={"autofocus": True}),
                               error_messages={"required": "Please tick the box to take part."})


class QualificationForm(forms.Form):
    def __init__(self, *args, items: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        for item in items:
            self.fields[f"q{item['number']}"] = forms.ChoiceField(
                choices=SIDES, widget=forms.RadioSelect, label=f"Question {item['number']}",
                error_messages={"required": "Please pick left or right."})

    def answers(self) -> dict:
        return {name[1:]: value for name, value in self.cleaned_data.items()}


class JudgeForm(forms.Form):
    """Per criterion left/right/tie (pairwise) or a point of the scale (rating)."""

    assignment = forms.UUIDField(widget=forms.HiddenInput)
    client_key = forms.CharField(max_length=64, widget=forms.HiddenInput)
    seconds = forms.FloatField(required=False, min_value=0, widget=forms.HiddenInput)
    strength = forms.ChoiceField(choices=STRENGTHS, required=False, widget=forms.RadioSelect)
    rationale = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)

    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, **kwargs)
        self.criterion_names = study.criterion_names
        if study.task == "pairwise":
            choices = [("left", "Left"), ("tie", "Tie"), ("right", "Right")]
        else:
            choices = [(str(v), str(v)) for v in range(study.likert_min, study.likert_max + 1)]
        for name in self.criterion_names:
            self.fields[f"choice_{name}"] = forms.ChoiceField(
                choices=choices, widget=forms.RadioSelect, error_messages={"required": f"Please answer '{name}'."})

    def choices(self) -> dict:
        return {name: self.cleaned_data[f"choice_{name}"] for name in self.criterion_names}


class SkipForm(forms.Form):
    assignment = forms.UUIDField(widget=forms.HiddenInput)
    client_key = forms.CharField(max_length=64, widget=forms.HiddenInput)
    reason = forms.ChoiceField(choices=list(SKIP_REASONS.items()))
    detail = forms.CharField(required=False, max_length=200)
