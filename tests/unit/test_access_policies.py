"""labcore.policy, labcore.access and the store backends: the lab's policy names, reading its grants back, and
whose account the trainer's keys name (each backend against canned answers of its store)."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

import labcore.access
from labcore.access import check_account, ensure_trainer_user
from labcore.errors import ConfigError, StoreError
from labcore.policy import (
    dataset_of,
    earlier_policy_name,
    is_lab_policy_name,
    trainer_policy,
    trainer_policy_name,
)
from labcore.settings import load_settings
from labcore.useradmin.versitygw import _kept

SETTINGS = load_settings(environ={"BUCKET": "lab-data", "DATA_PREFIX": "mnist/v2"})


def test_the_dataset_of_a_lab_policy_is_read_back_in_either_shape():
    policy = trainer_policy(SETTINGS)
    assert dataset_of(policy, "lab-data") == "mnist/v2"
    # Stores hand documents back with single values as strings (SeaweedFS's GetUserPolicy).
    resources = ["arn:aws:s3:::lab-data/mnist/v2/*", "arn:aws:s3:::lab-data/mnist/v2-shards/*"]
    assert (
        dataset_of({"Statement": [{"Action": "s3:GetObject", "Resource": resources}]}, "lab-data")
        == "mnist/v2"
    )
    assert dataset_of(policy, "other-bucket") is None
    assert dataset_of({"Statement": [{"Action": "s3:PutObject", "Resource": "arn:aws:s3:::lab-data/x/*"}]}, "lab-data") is None  # fmt: skip


def test_a_bucket_policy_keeps_other_datasets_and_other_principals_but_not_hand_grants_to_the_trainer():
    name = "lab-trainer-lab-data-mnist"
    statements = [
        {"Sid": f"{name}:0", "Principal": {"AWS": ["labtrainer"]}},  # rewritten
        {"Sid": "lab-trainer-lab-data-fashion:2", "Principal": {"AWS": ["labtrainer"]}},  # another dataset
        {"Sid": "ops", "Principal": {"AWS": ["auditor"]}},  # someone else's
        {"Sid": "by-hand", "Principal": {"AWS": "labtrainer"}},  # would undo least privilege
        {"Principal": "*"},
    ]
    kept = [s.get("Sid") for s in statements if _kept(s, name, "labtrainer")]
    assert kept == ["lab-trainer-lab-data-fashion:2", "ops", None]


# --- Policy names: one per bucket and exact prefix ------------------------------------------------


def policy_name(bucket: str, prefix: str) -> str:
    return trainer_policy_name(load_settings(environ={"BUCKET": bucket, "DATA_PREFIX": prefix}))


def test_prefixes_that_share_a_slug_get_policies_of_their_own():
    near = [
        ("lab-data", "a/b"),
        ("lab-data", "a.b"),
        ("lab-data", "a/b.c"),
        ("lab-data", "a.b/c"),
        ("lab-data", "a.b.c"),
        ("lab-data", "A/b"),
        ("lab-x", "y"),  # lab-trainer-lab-x-y...
        ("lab", "x-y"),  # ... the same slug, another bucket
        ("lab-data", "p" * 200 + "1"),  # cut to fit, told apart by the hash
        ("lab-data", "p" * 200 + "2"),
    ]
    names = [policy_name(b, p) for b, p in near]
    assert len(set(names)) == len(names), names
    assert all(len(n) <= 128 and is_lab_policy_name(n) for n in names)
    assert policy_name("lab-data", "a/b") == policy_name("lab-data", "a/b")  # stable between runs
    assert policy_name("lab-data", "mnist/v2").startswith("lab-trainer-lab-data-mnist.v2-")


def test_the_names_of_every_version_are_the_labs_and_nothing_else_is():
    settings = load_settings(environ={"BUCKET": "lab-data", "DATA_PREFIX": "mnist/v2"})
    assert earlier_policy_name(settings) == "lab-trainer-lab-data-mnist.v2"
    for name in (trainer_policy_name(settings), earlier_policy_name(settings), "lab-trainer-lab-data"):
        assert is_lab_policy_name(name), name
    for name in (
        "consoleAdmin",
        "readwrite",
        "labtrainer_policy",
        "lab-trainer-",
        "ops,lab-trainer-lab-data",
    ):
        assert not is_lab_policy_name(name), name


# --- Whose account: the decision, then what each store's backend reports --------------------------

BASE = {
    "MINIO_ENDPOINT": "127.0.0.1:9",
    "MINIO_ROOT_USER": "lab-admin",
    "MINIO_ROOT_PASSWORD": "lab-admin-secret",
    "AWS_ACCESS_KEY_ID": "labtrainer",
    "AWS_SECRET_ACCESS_KEY": "lab-trainer-secret",
    "BUCKET": "lab-data",
}


def test_an_account_with_rights_of_its_own_is_refused_in_one_line_unless_adopted():
    settings = load_settings(environ=BASE)
    check_account(settings, "labtrainer", [])  # new, or the lab's
    with pytest.raises(ConfigError) as info:
        check_account(settings, "ops", ["policy consoleAdmin", "group admins"])
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(
        "AWS_ACCESS_KEY_ID='ops' names an existing MinIO account that is not the lab's "
        "(policy consoleAdmin, group admins): "
    )
    assert "choose another trainer key id in .env, or set LAB_ADOPT_TRAINER_ACCOUNT=true" in line
    adopt = load_settings(environ={**BASE, "LAB_ADOPT_TRAINER_ACCOUNT": "true"})
    check_account(adopt, "ops", ["policy consoleAdmin", "group admins"])


class RecordingAdmin:
    """A store backend that reports canned rights and lab policies and records what it is asked."""

    def __init__(self, foreign: list[str], policies: dict[str, dict]):
        self.foreign, self.policies, self.grants = foreign, policies, []

    def check_keys(self, user, secret):
        pass

    def foreign_rights(self, user):
        return self.foreign

    def lab_policies(self, bucket):
        return self.policies

    def grant(self, user, secret, name, policy, replaces=()):
        self.grants.append((name, list(replaces)))


def seed_grant(monkeypatch, admin: RecordingAdmin, **env: str) -> list:
    monkeypatch.setattr(labcore.access, "user_admin", lambda settings: admin)
    ensure_trainer_user(load_settings(environ={**BASE, **env}))
    return admin.grants


def test_an_account_that_is_not_the_labs_is_refused_before_anything_is_granted(monkeypatch):
    admin = RecordingAdmin(["policy consoleAdmin"], {})
    with pytest.raises(ConfigError, match=r"AWS_ACCESS_KEY_ID='labtrainer' names an existing MinIO account"):
        seed_grant(monkeypatch, admin)
    assert admin.grants == []
    assert seed_grant(monkeypatch, admin, LAB_ADOPT_TRAINER_ACCOUNT="true") == [
        (policy_name("lab-data", "mnist"), [])
    ]


def test_an_earlier_name_is_replaced_only_where_it_grants_this_very_prefix(monkeypatch):
    # Before the hash, a/b and a.b shared lab-trainer-lab-data-a.b: here it holds a/b's policy.
    a_slash_b = trainer_policy(load_settings(environ={**BASE, "DATA_PREFIX": "a/b"}))
    old = {"lab-trainer-lab-data-a.b": a_slash_b}
    assert seed_grant(monkeypatch, RecordingAdmin([], old), DATA_PREFIX="a/b") == [
        (policy_name("lab-data", "a/b"), ["lab-trainer-lab-data-a.b"])
    ]
    assert seed_grant(monkeypatch, RecordingAdmin([], old), DATA_PREFIX="a.b") == [
        (policy_name("lab-data", "a.b"), [])  # a/b's grant stays
    ]


class Answer:
    def __init__(self, status: int, data: bytes):
        self.status, self.data = status, data


class FakeMinioPool:
    """Answers MinIO's admin API ``user-info`` from a dict of users (user -> its JSON record)."""

    def __init__(self, users: dict[str, dict]):
        self.users = users

    def clear(self) -> None:  # MinioAdmin.__del__ empties its pool
        pass

    def urlopen(self, method, url, body=None, headers=None, preload_content=True):
        user = parse_qs(urlsplit(url).query)["accessKey"][0]
        if user not in self.users:
            error = {"Code": "XMinioAdminNoSuchUser", "Message": "The specified user does not exist."}
            return Answer(404, json.dumps(error).encode())
        return Answer(200, json.dumps(self.users[user]).encode())


def test_minio_reports_other_policies_and_every_group():
    from labcore.useradmin.minio import MinioUserAdmin

    admin = MinioUserAdmin(load_settings(environ={**BASE, "STORE": "minio"}))
    admin.admin._http = FakeMinioPool(
        {
            "ops": {"policyName": "consoleAdmin", "status": "enabled"},
            "member": {"status": "enabled", "memberOf": ["rw-team"]},
            # Made by earlier versions of the lab: the per-bucket and the hashless names.
            "old": {"policyName": "lab-trainer-lab-data,lab-trainer-lab-data-mnist", "status": "enabled"},
            "mixed": {"policyName": "lab-trainer-lab-data-mnist,readwrite", "memberOf": ["a", "b"]},
        }
    )
    assert admin.foreign_rights("nobody") == []
    assert admin.foreign_rights("old") == []
    assert admin.foreign_rights("ops") == ["policy consoleAdmin"]
    assert admin.foreign_rights("member") == ["group rw-team"]
    assert admin.foreign_rights("mixed") == ["policy readwrite", "group a", "group b"]


def test_minio_adoption_detaches_other_policies_and_takes_the_user_out_of_its_groups():
    from labcore.useradmin.minio import MinioUserAdmin

    calls = []

    class Admin:
        def __getattr__(self, method):
            return lambda *args, **kwargs: calls.append((method, args, kwargs))

        def user_info(self, user):
            return json.dumps({"policyName": "readwrite,lab-trainer-lab-data-mnist", "memberOf": ["rw-team"]})

    admin = MinioUserAdmin(load_settings(environ={**BASE, "STORE": "minio"}))
    admin.admin = Admin()
    admin.grant(
        "ops", "secret-123", "lab-trainer-lab-data-mnist-0123456789ab", {}, ["lab-trainer-lab-data-mnist"]
    )
    changes = [(m, a, k) for m, a, k in calls if m != "policy_add"]
    assert changes == [
        ("user_add", ("ops", "secret-123"), {}),
        ("detach_policy", (["lab-trainer-lab-data-mnist", "readwrite"],), {"user": "ops"}),
        ("attach_policy", (["lab-trainer-lab-data-mnist-0123456789ab"],), {"user": "ops"}),
        ("group_remove", ("rw-team", ["ops"]), {}),
    ]


IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"


class FakeIam:
    """SeaweedFS's IAM query API for a few users: their inline and managed policies and their groups."""

    def __init__(self, users: dict[str, dict]):
        self.users, self.calls = users, []

    def request(self, method, url, body=b"", headers=None):
        if method == "GET":  # grant's probe of the trainer's secret: as if it had changed
            self.calls.append(("ListBuckets", {}))
            error = "<Error><Code>SignatureDoesNotMatch</Code></Error>"
            return Answer(403, error.encode())
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        action, user = form.pop("Action"), form.get("UserName")
        self.calls.append((action, form))
        if user not in self.users:
            error = f"<Error><Code>NoSuchEntity</Code><Message>user {user} does not exist</Message></Error>"
            return Answer(404, f'<ErrorResponse xmlns="{IAM_NS}">{error}</ErrorResponse>'.encode())
        record = self.users[user]
        members = {
            "ListUserPolicies": "".join(f"<member>{p}</member>" for p in record.get("inline", [])),
            "ListAttachedUserPolicies": "".join(
                f"<member><PolicyName>{p}</PolicyName><PolicyArn>arn:aws:iam:::policy/{p}</PolicyArn></member>"
                for p in record.get("managed", [])
            ),
            "ListGroupsForUser": "".join(
                f"<member><GroupName>{g}</GroupName></member>" for g in record.get("groups", [])
            ),
            "ListAccessKeys": f"<member><AccessKeyId>{user}</AccessKeyId></member>",
        }.get(action, "")
        return Answer(
            200, f'<{action}Response xmlns="{IAM_NS}"><Result>{members}</Result></{action}Response>'.encode()
        )


def seaweedfs_admin(users):
    from labcore.useradmin.iam import IamUserAdmin

    admin = IamUserAdmin(load_settings(environ={**BASE, "STORE": "seaweedfs"}))
    admin._http = FakeIam(users)
    return admin


def test_seaweedfs_reports_other_inline_policies_managed_policies_and_groups():
    admin = seaweedfs_admin(
        {
            "labtrainer": {"inline": ["lab-trainer-lab-data-mnist"]},  # an earlier version's
            "ops": {"inline": ["ops_policy"], "managed": ["AdminAccess"], "groups": ["admins"]},
        }
    )
    assert admin.foreign_rights("nobody") == []
    assert admin.foreign_rights("labtrainer") == []
    assert admin.foreign_rights("ops") == ["policy ops_policy", "policy AdminAccess", "group admins"]


def test_seaweedfs_adoption_takes_the_user_out_of_its_groups():
    admin = seaweedfs_admin(
        {"ops": {"inline": ["lab-trainer-lab-data-mnist", "ops_policy"], "groups": ["admins"]}}
    )
    admin.grant(
        "ops",
        "secret-123",
        "lab-trainer-lab-data-mnist-0123456789ab",
        {"Statement": []},
        ["lab-trainer-lab-data-mnist"],
    )
    changed = [
        (a, f.get("PolicyName") or f.get("GroupName"))
        for a, f in admin._http.calls
        if not a.startswith("List")
    ]
    assert ("RemoveUserFromGroup", "admins") in changed
    # Today's policy goes in before the others come out: the key is never without one.
    assert changed[-3:] == [
        ("PutUserPolicy", "lab-trainer-lab-data-mnist-0123456789ab"),
        ("DeleteUserPolicy", "lab-trainer-lab-data-mnist"),  # replaced by today's name
        ("DeleteUserPolicy", "ops_policy"),
    ]


class FakeVersity:
    """VersityGW's admin API (accounts, buckets and owners) and the lab bucket's policy."""

    def __init__(self, accounts: dict[str, str], owners: dict[str, str], statements: list[dict]):
        self.accounts, self.owners, self.statements, self.calls = accounts, owners, statements, []

    def request(self, method, url, body=b"", headers=None):
        path = urlsplit(url).path
        self.calls.append(path)
        if path == "/list-users":
            rows = "".join(
                f"<Accounts><Access>{a}</Access><Role>{r}</Role></Accounts>" for a, r in self.accounts.items()
            )
            return Answer(200, f"<ListUserAccountsResult>{rows}</ListUserAccountsResult>".encode())
        if path == "/list-buckets":
            rows = "".join(
                f"<Buckets><Name>{b}</Name><Owner>{o}</Owner></Buckets>" for b, o in self.owners.items()
            )
            return Answer(200, f"<ListBucketsResult>{rows}</ListBucketsResult>".encode())
        return Answer(200, b"")

    def get_bucket_policy(self, bucket):
        return json.dumps({"Version": "2012-10-17", "Statement": self.statements})

    def set_bucket_policy(self, bucket, document):
        self.statements = json.loads(document)["Statement"]


def versity_admin(accounts, owners=None, statements=()):
    from labcore.useradmin.versitygw import VersityUserAdmin

    admin = VersityUserAdmin(load_settings(environ={**BASE, "STORE": "versitygw"}))
    admin._http = admin._s3 = FakeVersity(accounts, owners or {"lab-data": "lab-admin"}, list(statements))
    return admin


def test_versitygw_reports_a_raised_role_owned_buckets_and_hand_grants():
    lab = {"Sid": "lab-trainer-lab-data-mnist:0", "Principal": {"AWS": ["labtrainer", "ops"]}}
    by_hand = {"Sid": "by-hand", "Principal": {"AWS": "ops"}}
    admin = versity_admin(
        {"labtrainer": "user", "ops": "admin"}, {"lab-data": "lab-admin", "ops-data": "ops"}, [lab, by_hand]
    )
    assert admin.foreign_rights("nobody") == []
    assert admin.foreign_rights("labtrainer") == []
    assert admin.foreign_rights("ops") == [
        "role admin",
        "bucket ops-data",
        "statement by-hand in the policy of lab-data",
    ]


def test_versitygw_refuses_an_account_that_owns_buckets_even_when_adopting():
    admin = versity_admin({"ops": "userplus"}, {"lab-data": "lab-admin", "ops-data": "ops"})
    with pytest.raises(ConfigError, match=r"AWS_ACCESS_KEY_ID='ops' owns bucket\(s\) ops-data on VersityGW"):
        admin.grant(
            "ops",
            "secret-123",
            "lab-trainer-lab-data-mnist-0123456789ab",
            {"Version": "2012-10-17", "Statement": []},
        )
    assert "/update-user" not in admin._http.calls  # its secret and role are untouched


def test_versitygw_replaces_statements_written_under_an_earlier_name():
    old = {"Sid": "lab-trainer-lab-data-mnist:0", "Principal": {"AWS": ["labtrainer"]}}
    assert not _kept(
        old, "lab-trainer-lab-data-mnist-0123456789ab", "labtrainer", ["lab-trainer-lab-data-mnist"]
    )
    assert _kept(old, "lab-trainer-lab-data-fashion-0123456789ab", "labtrainer")  # another dataset's


class OddIam(FakeIam):
    """SeaweedFS's IAM API listing a lab policy whose document it then leaves out."""

    def request(self, method, url, body=b"", headers=None):
        action = parse_qs(body.decode()).get("Action", [""])[0]
        if action == "ListUsers":
            return Answer(200, f'<ListUsersResponse xmlns="{IAM_NS}"><member><UserName>labtrainer</UserName></member></ListUsersResponse>'.encode())  # fmt: skip
        if action == "GetUserPolicy":
            return Answer(200, f'<GetUserPolicyResponse xmlns="{IAM_NS}"><Result/></GetUserPolicyResponse>'.encode())  # fmt: skip
        return super().request(method, url, body, headers)


class OddVersity(FakeVersity):
    """VersityGW answering the bucket-policy question with something that is not JSON."""

    def get_bucket_policy(self, bucket):
        return "<html>gateway error</html>"


@pytest.mark.parametrize("store", ["seaweedfs", "versitygw"])
def test_an_admin_api_answer_of_another_shape_is_one_line(monkeypatch, store):
    settings = load_settings(environ={**BASE, "STORE": store})
    if store == "seaweedfs":
        admin = seaweedfs_admin({"labtrainer": {"inline": ["lab-trainer-lab-data-mnist-0123456789ab"]}})
        admin._http = OddIam(admin._http.users)
    else:
        admin = versity_admin({})
        admin._http = admin._s3 = OddVersity({}, {"lab-data": "lab-admin"}, [])
    monkeypatch.setattr(labcore.access, "user_admin", lambda _: admin)
    with pytest.raises(StoreError) as info:
        ensure_trainer_user(settings)
    assert re.fullmatch(
        r"the (SeaweedFS|VersityGW) admin API at \S+ gave an answer the lab cannot read \((IndexError|JSONDecodeError): .+\) "
        r"while making the trainer's user: .*scripts/build-store-image\.sh.*",
        str(info.value),
    ), str(info.value)
