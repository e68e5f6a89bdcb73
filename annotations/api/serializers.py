from rest_framework import serializers

from annotations.models import Study


class StudyCriterionSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()


class StudyOutputSerializer(serializers.ModelSerializer):
    criteria = StudyCriterionSerializer(many=True)

    class Meta:
        model = Study
        fields = ["slug", "title", "description", "task", "status", "criteria", "target_per_item",
                  "attention_check_rate", "likert_min", "likert_max", "samples_per_condition", "created_at"]


class StudyInputSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=64)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    task = serializers.ChoiceField(choices=Study.Task.choices, default=Study.Task.PAIRWISE)
    criteria = serializers.ListField(child=serializers.CharField(max_length=64), required=False, allow_empty=False)
    target_per_item = serializers.IntegerField(min_value=1, max_value=100, default=3)
    attention_check_rate = serializers.FloatField(min_value=0, max_value=0.5, default=0.1)


class FileUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, JSON or JSONL (UTF-8).")


class ImportResultSerializer(serializers.Serializer):
    created = serializers.DictField(child=serializers.IntegerField())


class ImportErrorItemSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True)
    column = serializers.CharField(allow_null=True)
    problem = serializers.CharField()


class ImportErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = ImportErrorItemSerializer(many=True)


class StudyDeleteInputSerializer(serializers.Serializer):
    confirm = serializers.CharField(max_length=64, help_text="The study's slug, repeated to confirm the deletion.")


class StudyDeletedSerializer(serializers.Serializer):
    slug = serializers.CharField()
    export_dir = serializers.CharField(help_text="Where the judgments and the study's set-up were written first.")
    judgments = serializers.IntegerField(help_text="Judgments exported, then deleted.")


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
