"""Shared fixtures: named users for permission tests, and a small study."""

import pytest
from django.contrib.auth.models import Group

from annotations.api.permissions import RESEARCHERS_GROUP

from .factories import UserFactory


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def researcher(db):
    user = UserFactory(username="rosa-researcher")
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    return user


@pytest.fixture
def outsider(db):
    return UserFactory(username="otto-outsider")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
