"""Every setting the README lists is read from the environment; bad values are refused."""

from __future__ import annotations

import pytest

from kmcbot.settings import Settings, SettingsError, from_env, unreachable


def test_defaults_without_environment() -> None:
    s = from_env({})
    assert (s.send_rate, s.redis_shards, s.reminder_hour, s.pgbouncer) == (80.0, 1, 10, False)
    assert s.template_booking == Settings.template_booking


def test_each_documented_setting_is_read() -> None:
    s = from_env(
        {
            "KMCBOT_SEND_RATE": "500",
            "KMCBOT_REDIS_SHARDS": "16",
            "KMCBOT_REMINDER_HOUR": "8",
            "KMCBOT_TEMPLATE_BOOKING": "tb",
            "KMCBOT_TEMPLATE_SLOT_CANCELLED": "tc",
            "KMCBOT_TEMPLATE_REMINDER": "tr",
            "KMCBOT_LOCK_LEASE_MS": "5000",
            "KMCBOT_CLAIM_IDLE_MS": "30000",
            "KMCBOT_REDIS_PREFIX": "city",
        }
    )
    assert (s.send_rate, s.redis_shards, s.reminder_hour) == (500.0, 16, 8)
    assert (s.template_booking, s.template_slot_cancelled, s.template_reminder) == (
        "tb",
        "tc",
        "tr",
    )
    assert (s.lock_lease_ms, s.claim_idle_ms, s.redis_prefix) == (5000, 30000, "city")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KMCBOT_SEND_RATE", "fast"),
        ("KMCBOT_SEND_RATE", "0"),
        ("KMCBOT_SEND_RATE", "0.5"),
        ("KMCBOT_LOCK_LEASE_MS", "10"),
        ("KMCBOT_SEND_RATE", "nan"),
        ("KMCBOT_REDIS_SHARDS", "0"),
        ("KMCBOT_REDIS_SHARDS", "many"),
        ("KMCBOT_REMINDER_HOUR", "25"),
        ("KMCBOT_DATABASE_URL", "mysql://db.example/kmcbot"),
        ("KMCBOT_DATABASE_URL", "db.example:5432"),
        ("KMCBOT_REDIS_URL", "http://cache.example:6379"),
        ("KMCBOT_REDIS_URL", "127.0.0.1:6379"),
        ("KMCBOT_GRAPH_URL", "graph.facebook.com/v21.0"),
        ("KMCBOT_GRAPH_URL", "ftp://127.0.0.1:9090"),
        ("KMCBOT_DEV", "2"),
        ("KMCBOT_NO_SENDER", "maybe"),
        ("KMCBOT_PGBOUNCER", "enabled"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        from_env({name: value})


def test_redis_cluster_is_off_unless_set() -> None:
    assert from_env({}).redis_cluster is False
    assert Settings().redis_cluster is False
    s = from_env({"KMCBOT_REDIS_CLUSTER": "1", "KMCBOT_REDIS_URL": "redis://10.0.0.5:7000"})
    assert (s.redis_cluster, s.redis_url) == (True, "redis://10.0.0.5:7000")


@pytest.mark.parametrize("url", [None, "unix:///tmp/redis.sock"])
def test_redis_cluster_needs_a_node_to_start_from(url: str | None) -> None:
    env = {"KMCBOT_REDIS_CLUSTER": "1"} | ({"KMCBOT_REDIS_URL": url} if url else {})
    with pytest.raises(SettingsError, match="KMCBOT_REDIS_CLUSTER=1 needs KMCBOT_REDIS_URL"):
        from_env(env)


def test_the_url_schemes_the_clients_take_are_accepted() -> None:
    s = from_env(
        {
            "KMCBOT_DATABASE_URL": "postgres://u:p@db.example/kmcbot",
            "KMCBOT_REDIS_URL": "unix:///run/redis.sock?db=2",
            "KMCBOT_GRAPH_URL": "http://127.0.0.1:9090/",
        }
    )
    assert s.graph_url == "http://127.0.0.1:9090"
    assert from_env({"KMCBOT_DATABASE_URL": "postgresql://db.example/kmcbot"}).database_url
    assert from_env({"KMCBOT_REDIS_URL": "rediss://cache.example:6380/0"}).redis_url


def test_a_bad_url_is_refused_without_its_password() -> None:
    with pytest.raises(SettingsError) as refused:
        from_env({"KMCBOT_DATABASE_URL": "mysql://kmcbot:s3cret@db.example/kmcbot"})
    assert "s3cret" not in str(refused.value)


def test_an_unreachable_server_without_a_message_still_says_why() -> None:
    refused = unreachable("PostgreSQL", "postgresql://u:s3cret@10.0.0.5:5432/k", TimeoutError())
    assert str(refused) == "PostgreSQL at 10.0.0.5:5432: TimeoutError"


@pytest.mark.parametrize(
    "graph", ["https://graph.facebook.com/v21.0", "https://graph.facebook.com/v22.0"]
)
def test_a_token_for_meta_without_the_sending_number_is_refused(graph: str) -> None:
    env = {"KMCBOT_WA_TOKEN": "t", "KMCBOT_ID_PEPPER": "p", "KMCBOT_APP_SECRET": "s"}
    env["KMCBOT_STAFF_SECRET"] = "s" * 32
    with pytest.raises(SettingsError, match="KMCBOT_WA_PHONE_NUMBER_ID"):
        from_env({**env, "KMCBOT_GRAPH_URL": graph}).check_for_serving()
    # A stand-in (a load test) takes the default number id.
    from_env({**env, "KMCBOT_GRAPH_URL": "http://127.0.0.1:9090"}).check_for_serving()


def test_the_log_level_is_read_and_a_wrong_one_refused() -> None:
    assert from_env({}).log_level == "info" and from_env({}).log_level_number == 20
    quiet = from_env({"KMCBOT_LOG_LEVEL": "WARNING"})
    assert (quiet.log_level, quiet.log_level_number) == ("warning", 30)
    with pytest.raises(SettingsError, match="KMCBOT_LOG_LEVEL"):
        from_env({"KMCBOT_LOG_LEVEL": "loud"})
