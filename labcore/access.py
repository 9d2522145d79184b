"""Least privilege on the store: the trainer's own user, made by the seeder, and the line that says how.

The seeder runs as the admin and (re)creates this user on every run with exactly the lab's
policies (``labcore.policy``: what the keys in ``AWS_*`` may touch), told to the store by its
backend (``labcore.useradmin``). Where the store cannot confine a user (``labcore.stores``), the
trainer runs with the admin keys and the seeder says so in one line (``trainer_access``).

The seeder only makes that user its own where the account is new or already the lab's (it holds
nothing but the lab's policies, and no group): an operator's account named by ``AWS_ACCESS_KEY_ID``
is refused in one line unless ``LAB_ADOPT_TRAINER_ACCOUNT=true`` says to strip it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from labcore.errors import ConfigError, StoreError
from labcore.policy import (
    check_prefix_free,
    dataset_of,
    earlier_policy_name,
    trainer_policy,
    trainer_policy_name,
)
from labcore.settings import Settings
from labcore.shards import shards_prefix
from labcore.stores import STORES
from labcore.useradmin import user_admin

# Key ids of real AWS users and sessions: never meant to become a user of the lab on the store.
_AWS_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{12,}$")


def trainer_access(settings: Settings) -> str:
    """Give the trainer what it needs on this store and say how, in one line for the seeder to print ('' if nothing to say).

    Where the store lets the lab confine a user: the trainer's user with the lab's prefix policy,
    or, where grants are per bucket (Garage), its own key on the bucket alone, said loudly.
    Elsewhere, one loud line: the lab still runs, with the admin keys.
    """
    store = STORES[settings.store]
    confinement = store.confines(settings.store_admin_token)
    if not confinement:
        missing = " without STORE_ADMIN_TOKEN" if store.needs_admin_token else ""
        return (
            f"least privilege unavailable on {store.title}{missing}: the trainer uses the admin keys "
            "(docs/other-s3-servers.md)"
        )
    user = ensure_trainer_user(settings)
    if not user:
        return ""  # configured with the admin's own keys: nothing was made, nothing to say
    if confinement == "bucket":
        return (
            f"least privilege in part on {store.title}: trainer key {user!r} may read and write all of "
            f"{settings.bucket} and nothing else ({store.title} grants per bucket, not per prefix)"
        )
    prefix = settings.data_prefix
    return (
        f"trainer user {user!r}: read {prefix}/ and {shards_prefix(prefix)}/, write checkpoints/ and "
        f"runs/ in {settings.bucket}"
    )


def check_account(settings: Settings, user: str, foreign: list[str]) -> None:
    """``ConfigError`` when the account ``user`` holds rights the lab did not give it (``foreign``,
    as the store's backend found them) and ``LAB_ADOPT_TRAINER_ACCOUNT`` does not say to take them.

    Seeding resets the account's secret and strips what is not the lab's: on an operator's account
    (MinIO's ``consoleAdmin``, a group with ``readwrite``) that is a takeover, not least privilege.
    """
    if not foreign or settings.adopt_trainer_account:
        return
    shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
    raise ConfigError(
        f"AWS_ACCESS_KEY_ID={user!r} names an existing {STORES[settings.store].title} account that is not "
        f"the lab's ({shown}): seeding would reset its secret and take those away; choose another trainer "
        "key id in .env, or set LAB_ADOPT_TRAINER_ACCOUNT=true to make it the lab's"
    )


def ensure_trainer_user(settings: Settings) -> str | None:
    """Create or update the ``AWS_ACCESS_KEY_ID`` user with exactly the lab's policies; return its name.

    Nothing to do (``None``) when the trainer is configured with the admin's own keys. An existing
    account that is not the lab's is refused (``check_account``); one adopted with
    ``LAB_ADOPT_TRAINER_ACCOUNT=true`` loses every policy and group the lab did not give it, since
    they would undo least privilege. How the store is told is its backend's business
    (``labcore.useradmin``).
    """
    user, secret = settings.aws_access_key_id, settings.aws_secret_access_key
    if not user or user == settings.minio_access_key:
        return None
    if _AWS_KEY_ID.match(user) and not settings.allow_aws_key_ids:
        raise ConfigError(
            f"AWS_ACCESS_KEY_ID={user[:4]}... looks like a real AWS key id, which the seeder would register "
            "as a user of the store: use the lab's trainer keys from .env, or set LAB_ALLOW_AWS_KEY_IDS=true"
        )
    admin = user_admin(settings)
    admin.check_keys(user, secret)
    with _readable_answers(settings):
        _grant(settings, admin, user, secret)
    return user


@contextlib.contextmanager
def _readable_answers(settings: Settings) -> Iterator[None]:
    """An admin API answer of another shape than the backend reads (a field missing, a document
    that is not JSON, a list where a mapping was) as one line naming the store and what to check."""
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, SyntaxError) as exc:  # ParseError is a SyntaxError
        store = STORES[settings.store].title
        where = settings.store_admin_url or settings.minio_url
        raise StoreError(
            f"the {store} admin API at {where} gave an answer the lab cannot read ({type(exc).__name__}: "
            f"{str(exc)[:120]}) while making the trainer's user: is it the {store} release the lab pins "
            "(scripts/build-store-image.sh)? Or set AWS_ACCESS_KEY_ID to the admin's keys to skip the user"
        ) from None


def _grant(settings: Settings, admin, user: str, secret: str) -> None:
    check_account(settings, user, admin.foreign_rights(user))
    name, bucket = trainer_policy_name(settings), settings.bucket
    policies = admin.lab_policies(bucket)
    # This dataset's policy under the name an earlier version gave it: replaced by today's. Only
    # if it grants this very prefix, since a/b and a.b shared that name.
    earlier = earlier_policy_name(settings)
    replaces = (
        [earlier]
        if earlier != name and dataset_of(policies.get(earlier, {}), bucket) == settings.data_prefix
        else []
    )
    others = [dataset_of(p, bucket) for n, p in policies.items() if n != name and n not in replaces]
    check_prefix_free(settings, [p for p in others if p])
    admin.grant(user, secret, name, trainer_policy(settings), replaces)
