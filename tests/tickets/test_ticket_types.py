"""ticket_types.json: both forms, path-precise errors, and syncing into the database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from customer_flow.core.errors import ConfigError, NotFoundError
from customer_flow.hub import Hub
from customer_flow.tickets.types import format_duration, parse_duration, read_file


def write(tmp_path: Path, content: object, name: str = "ticket_types.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        read_file(path)
    return exc.value.problems  # type: ignore[attr-defined, no-any-return]


class TestReadFile:
    def test_the_simple_form_maps_a_key_to_a_name(self, tmp_path: Path) -> None:
        types = read_file(write(tmp_path, {"billing": "Billing question"}))
        t = types["billing"]
        assert (
            t.name,
            t.default_priority,
            t.sla,
            t.active,
        ) == ("Billing question", "normal", {}, True)

    def test_the_full_form_parses_sla_durations_to_seconds(self, tmp_path: Path) -> None:
        spec = {
            "bug": {
                "name": "Bug",
                "default_priority": "high",
                "sla": {"first_response": "1d 4h", "resolution": "90m"},
                "fields": {"steps": {"type": "text", "required": True}},
                "active": False,
            }
        }
        t = read_file(write(tmp_path, spec))["bug"]
        assert t.sla == {"first_response": 100800, "resolution": 5400}
        assert (
            t.default_priority,
            t.active,
            t.fields["steps"],
        ) == ("high", False, {"type": "text", "required": True})

    def test_the_bundled_example_is_valid(self, examples: Path) -> None:
        keys = set(read_file(examples / "ticket_types.json"))
        assert {
            "question",
            "billing",
            "technical_issue",
            "bug_report",
            "feature_request",
            "complaint",
        } == keys

    def test_an_sla_of_the_wrong_type_names_the_path(self, tmp_path: Path) -> None:
        path = write(tmp_path, {"billing": {"name": "B", "sla": {"first_response": True}}})
        assert problems(path) == [
            "ticket_types.json: $.billing.sla.first_response: "
            'expected a duration like "4h", got true'
        ]

    def test_a_trailing_comma_names_line_and_column(self, tmp_path: Path) -> None:
        path = write(tmp_path, '{\n  "billing": "Billing",\n}\n')
        message = _message(path)
        assert message.startswith("ticket_types.json: line 3 column 1: not valid JSON")

    def test_an_unknown_key_is_named(self, tmp_path: Path) -> None:
        path = write(tmp_path, {"billing": {"name": "B", "colour": "red"}})
        (message,) = problems(path)
        assert message.startswith("ticket_types.json: $.billing.colour: unknown key; allowed:")

    def test_a_bad_type_key_is_named(self, tmp_path: Path) -> None:
        (message,) = problems(write(tmp_path, {"Billing Q": "B"}))
        assert "'Billing Q' is not a ticket type key" in message

    def test_every_problem_is_listed(self, tmp_path: Path) -> None:
        spec = {"a": {"name": "A", "default_priority": "asap"}, "b": {"sla": {"resolution": 5}}}
        found = problems(write(tmp_path, spec))
        assert len(found) == 3, found
        assert any(
            "$.a.default_priority: expected one of low, normal, high, urgent" in p for p in found
        )
        assert any("$.b: missing required key 'name'" in p for p in found)
        assert any('$.b.sla.resolution: expected a duration like "4h", got 5' in p for p in found)

    def test_a_choice_field_needs_choices(self, tmp_path: Path) -> None:
        spec = {"t": {"name": "T", "fields": {"product": {"type": "choice"}}}}
        (message,) = problems(write(tmp_path, spec))
        assert "$.t.fields.product: missing required key 'choices'" in message

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            ("", "ticket_types.json: the file is empty"),
            ("  \n", "ticket_types.json: the file is empty"),
            ("{}", "ticket_types.json: $: defines no ticket types"),
            ("[1, 2]", "ticket_types.json: $: expected object, got [1, 2]"),
        ],
    )
    def test_empty_and_wrong_documents(self, tmp_path: Path, content: str, expected: str) -> None:
        assert expected == _message(write(tmp_path, content))

    def test_a_10_mb_file_is_refused_before_parsing(self, tmp_path: Path) -> None:
        path = tmp_path / "ticket_types.json"
        path.write_text('{"a": "' + "x" * 10_000_000 + '"}')
        assert _message(path) == "ticket_types.json: the file is 10.0 MB; the limit is 1 MB"

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        assert _message(tmp_path / "nope.json").endswith("nope.json: no such file")

    @pytest.mark.parametrize("text", ["4h", "90m", "1d 12h", "2w", "1h30m"])
    def test_durations_round_trip(self, text: str) -> None:
        assert parse_duration(text) == parse_duration(format_duration(parse_duration(text)))


def _message(path: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        read_file(path)
    return exc.value.message


class TestSync:
    def test_load_creates_updates_and_leaves_unchanged(self, hub: Hub, tmp_path: Path) -> None:
        first = hub.load_ticket_types(write(tmp_path, {"a": "A", "b": "B"}))
        assert (sorted(first.created), first.updated) == (["a", "b"], [])
        second = hub.load_ticket_types(write(tmp_path, {"a": "A2", "b": "B"}))
        assert (second.updated, second.unchanged, second.created) == (["a"], ["b"], [])
        assert hub.get_ticket_type("a").name == "A2"

    def test_a_type_missing_from_the_file_is_deactivated_not_deleted(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        hub.load_ticket_types(write(tmp_path, {"a": "A", "b": "B"}))
        report = hub.load_ticket_types(write(tmp_path, {"a": "A"}))
        assert report.deactivated == ["b"]
        assert [t.key for t in hub.list_ticket_types()] == ["a"]
        assert not hub.get_ticket_type("b").active
        assert [t.key for t in hub.list_ticket_types(include_inactive=True)] == ["a", "b"]

    def test_a_bad_file_changes_nothing(self, hub: Hub, tmp_path: Path) -> None:
        hub.load_ticket_types(write(tmp_path, {"a": "A"}))
        with pytest.raises(ConfigError):
            hub.load_ticket_types(write(tmp_path, {"a": {"name": "A", "sla": {"resolution": 1}}}))
        assert [t.key for t in hub.list_ticket_types()] == ["a"]
        assert hub.get_ticket_type("a").name == "A"

    def test_a_nul_in_the_file_is_refused_on_both_databases(self, hub: Hub, tmp_path: Path) -> None:
        """Issue 15: on PostgreSQL a NUL in a type's name was a traceback. Any control
        character is now a one-line ConfigError naming where it is, and nothing changes."""
        hub.load_ticket_types(write(tmp_path, {"a": "A"}))
        for name in ("Bill\x00ing", "Bill\x1bing"):
            bad = write(tmp_path, {"a": "A", "billing": {"name": name}})
            with pytest.raises(ConfigError) as exc:
                hub.load_ticket_types(bad)
            assert "control_character" == exc.value.code
            assert "billing.name: contains a control character" in exc.value.message
        assert ["a"] == [t.key for t in hub.list_ticket_types()]

    def test_an_unknown_type_is_not_found(self, hub: Hub) -> None:
        with pytest.raises(NotFoundError):
            hub.get_ticket_type("nope")

    def test_init_loads_the_bundled_types_once(self, hub: Hub) -> None:
        first = hub.init()
        assert first.ticket_types is not None and len(first.ticket_types.created) == 6
        again = hub.init()
        assert again.ticket_types is None  # types exist: init leaves them alone

    def test_init_demo_keeps_the_users_own_types(self, hub: Hub, tmp_path: Path) -> None:
        hub.load_ticket_types(write(tmp_path, {"ours": "Our type"}))
        report = hub.init(demo=True)
        assert report.ticket_types is None
        assert ["ours"] == [t.key for t in hub.list_ticket_types()]

    def test_init_demo_loads_the_seed_customers_with_their_warnings(self, hub: Hub) -> None:
        report = hub.init(demo=True)
        assert report.customers_added == [1, 2]
        assert hub.init(demo=True).customers_added == []
        john = hub.get_customer(1)
        assert {"phone_local_only", "email_example_domain"} == {w.code for w in john.warnings}
