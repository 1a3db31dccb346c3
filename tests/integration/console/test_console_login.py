"""The console with --login in a real headless Chromium, against a real SASL/SCRAM broker with ACLs:
pages need a session; a wrong password is refused on the login page; alice and bob each log in with
their SCRAM-SHA-512 credentials and see only the topics and groups their ACLs allow (the broker's
Metadata and ListGroups answers, through each user's own clients); a topic they may not describe is
not shown; logging out ends the session."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from riverlog.common.service import HttpService
from riverlog.console.app import ConsoleSettings, build_app
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
RUN = uuid.uuid4().hex[:6]
TOPICS = {"alice": f"login-alice-{RUN}", "bob": f"login-bob-{RUN}"}
GROUPS = {"alice": f"login-ga-{RUN}", "bob": f"login-gb-{RUN}"}
JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";'


def admin_config(broker: RunningBroker) -> dict[str, str]:
    return {
        "bootstrap.servers": broker.bootstrap_servers,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "admin",
        "sasl.password": "admin-secret",
    }


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    """SCRAM users alice and bob; each may describe and read one topic and one group."""
    config = {
        "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin",
    }
    with RunningBroker(tmp_path_factory.mktemp("console-login"), config=config) as running:
        admin = AdminClient(admin_config(running))
        for future in admin.create_topics([NewTopic(t, 1, 1) for t in TOPICS.values()]).values():
            future.result(10)
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)
        upserts = [UserScramCredentialUpsertion(u, info, f"{u}-secret".encode()) for u in TOPICS]
        for future in admin.alter_user_scram_credentials(upserts).values():
            future.result(10)
        bindings = []
        for user in TOPICS:
            for rtype, name in (
                (ResourceType.TOPIC, TOPICS[user]),
                (ResourceType.GROUP, GROUPS[user]),
            ):
                bindings.append(
                    AclBinding(
                        rtype, name, ResourcePatternType.LITERAL, f"User:{user}", "*",
                        AclOperation.READ, AclPermissionType.ALLOW,
                    )
                )  # fmt: skip
        for future in admin.create_acls(bindings).values():
            future.result(10)
        for group in GROUPS.values():  # a committed offset makes each group exist
            consumer = Consumer({**admin_config(running), "group.id": group})
            topic = TOPICS["alice"] if group == GROUPS["alice"] else TOPICS["bob"]
            consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
            consumer.close()
        yield running


@pytest.fixture(scope="module")
def console(broker: RunningBroker) -> Iterator[str]:
    settings = ConsoleSettings(
        broker.bootstrap_servers,
        client_config={"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512"},
        login=True,
    )
    with HttpService(build_app(settings), "127.0.0.1", 0, name="console") as service:
        yield service.url


def log_in(chrome: webdriver.Chrome, console: str, user: str, password: str) -> None:
    chrome.get(console + "/login")
    chrome.find_element(By.ID, "username").send_keys(user)
    chrome.find_element(By.ID, "password").send_keys(password)
    chrome.find_element(By.ID, "login-go").click()


def test_pages_need_a_session_and_a_wrong_password_is_refused(
    chrome: webdriver.Chrome, console: str
) -> None:
    chrome.delete_all_cookies()
    chrome.get(console + "/topics")
    assert chrome.current_url == console + "/login"
    assert chrome.find_element(By.TAG_NAME, "h1").text == "Log in"
    assert not chrome.find_elements(By.ID, "nav-topics")
    log_in(chrome, console, "alice", "not-her-password")
    WebDriverWait(chrome, 15).until(lambda d: d.find_elements(By.ID, "login-error"))
    error = chrome.find_element(By.ID, "login-error").text
    assert "login failed" in error and "invalid credentials" in error
    assert "not-her-password" not in chrome.page_source
    chrome.get(console + "/groups")
    assert chrome.current_url == console + "/login"


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_each_user_sees_only_what_their_acls_allow(
    chrome: webdriver.Chrome, console: str, user: str
) -> None:
    other = "bob" if user == "alice" else "alice"
    chrome.delete_all_cookies()
    log_in(chrome, console, user, f"{user}-secret")
    WebDriverWait(chrome, 15).until(lambda d: d.find_elements(By.ID, "signed-in-user"))
    assert chrome.find_element(By.ID, "signed-in-user").text == user
    assert chrome.find_element(By.ID, "stat-topics").text == "1"

    chrome.get(console + "/topics")
    listed = chrome.find_element(By.ID, "topics").text
    assert TOPICS[user] in listed and TOPICS[other] not in listed
    chrome.get(console + "/groups")
    groups = chrome.find_element(By.ID, "groups").text
    assert GROUPS[user] in groups and GROUPS[other] not in groups
    chrome.get(f"{console}/topics/{TOPICS[other]}")  # not describable: as if it did not exist
    assert "does not exist" in chrome.find_element(By.ID, "error").text
    chrome.get(f"{console}/topics/{TOPICS[user]}")
    assert chrome.find_element(By.TAG_NAME, "h1").text.endswith(TOPICS[user])
    # READ without DESCRIBE_CONFIGS: the page shows Kafka's refusal for the configs only.
    assert "AUTHORIZATION" in chrome.find_element(By.ID, "configs-error").text.upper()

    chrome.find_element(By.ID, "logout").click()
    # the click's form post and redirect finish after click() returns: wait for the login page
    WebDriverWait(chrome, 15).until(lambda d: d.current_url == console + "/login")
    chrome.get(console + "/topics")
    assert chrome.current_url == console + "/login"


def test_sessions_are_separate(console: str) -> None:
    """Two users signed in at once (two cookie jars) each get their own view."""
    with httpx.Client(base_url=console) as alice, httpx.Client(base_url=console) as bob:
        for client, user in ((alice, "alice"), (bob, "bob")):
            answer = client.post("/login", data={"username": user, "password": f"{user}-secret"})
            assert answer.status_code == 303, answer.text
            cookie = answer.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie
        assert TOPICS["alice"] in alice.get("/topics").text
        assert TOPICS["alice"] not in bob.get("/topics").text
        assert TOPICS["bob"] in bob.get("/topics").text
        # htmx fragments without a session are told to go to the login page.
        anonymous = httpx.get(console + "/topics", headers={"HX-Request": "true"})
        assert anonymous.headers.get("hx-redirect") == "/login"


def test_the_cli_refuses_login_without_sasl() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "riverlog", "console", "--login", "--listen", "http://127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--login needs a SASL listener" in lines[0]
