"""The access matrix of ``test_web_access_matrix``, extended to the reports and duplicates
routes: route × role × (own object or someone else's), every cell.

Reports and duplicate candidates belong to the team; a merge "belongs" to whoever made it. As
for customers, the role alone decides: both columns agree, and that they do is what the cells
check (a viewer reads everything and changes nothing; an agent may undo another's merge).
Kept in its own module so that it adds to the shared matrix without touching its table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from customer_flow.customers.models import CustomerCreate

from .conftest import Team
from .test_web_access_matrix import ALL, WRITERS, Route

ROUTES = [
    Route("GET", "/api/v1/reports?group_by=type", None, ALL, ALL, "none"),
    Route("GET", "/api/v1/reports/timeline.csv?since=2026-01-01", None, ALL, ALL, "none"),
    Route("GET", "/api/v1/duplicates?threshold=0.9", None, ALL, ALL, "pair"),
    Route(
        "POST", "/api/v1/duplicates/merge", {"keep": "{id}", "others": ["{other}"]},
        WRITERS, WRITERS, "pair",
    ),
    Route(
        "POST", "/api/v1/duplicates/dismiss", {"a": "{id}", "b": "{other}"},
        WRITERS, WRITERS, "pair",
    ),
    Route("GET", "/api/v1/merges?customer_id={id}", None, ALL, ALL, "merge"),
    Route("GET", "/api/v1/merges/{id}", None, ALL, ALL, "merge"),
    Route("POST", "/api/v1/merges/{id}/undo", None, WRITERS, WRITERS, "merge"),
]  # fmt: skip


def _fill(value: Any, ids: tuple[int, int]) -> Any:
    if isinstance(value, str):
        if value in ("{id}", "{other}"):
            return ids[0] if value == "{id}" else ids[1]
        return value.replace("{id}", str(ids[0]))
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _target(team: Team, route: Route, role: str, whose: str, n: int) -> tuple[int, int]:
    """Fresh objects for the cell: a pair of likely duplicates created by the owner, or a merge
    the owner made (for a viewer's "own", an admin makes it: viewers cannot)."""
    me = team[role]
    other = team["agent2"] if role != "agent2" else team["agent"]
    owner = me if whose == "own" else other
    hub = team.hub.for_user(owner.user)
    maker = hub if owner.user.role != "viewer" else team.hub
    if route.target == "none":
        return (0, 0)
    # Each cell's pair has its own phone, far from the other cells' (a one-digit typo would
    # make the cells' pairs look like one another to the duplicates model).
    phone = f"+35191{n * 7_654_321 % 10**7:07d}"
    a = maker.add_customer(CustomerCreate(name=f"Pat {whose} {role}", phone=phone))
    b = maker.add_customer(
        CustomerCreate(name=f"{role} {whose}, Pat", phone=phone), allow_duplicate=True
    )
    if route.target == "merge":
        merge = maker.merge_customers(a.id, [b.id]).merge
        # {id} is the survivor in "?customer_id={id}", else the merge itself.
        return (a.id, merge.id) if "customer_id" in route.path else (merge.id, a.id)
    return (a.id, b.id)


@pytest.mark.parametrize(
    "route", ROUTES, ids=[f"{r.method} {r.path.split('?')[0]}" for r in ROUTES]
)
class TestAccessMatrixOfReportsAndDuplicates:
    def test_every_role_and_owner_gets_the_expected_answer(self, team: Team, route: Route) -> None:
        """Six cells per route: admin, agent and viewer, each on their own object and on
        someone else's. Each cell runs on fresh objects; every wrong cell is listed."""
        wrong: list[str] = []
        n = 0
        for role in sorted(ALL):
            for whose in ("other", "own"):
                n += 1
                allowed = role in (route.own if whose == "own" else route.other)
                ids = _target(team, route, role, whose, n)
                path = _fill(route.path, ids)
                body = _fill(route.body, ids)
                call: Callable[..., Any] = getattr(team.client, route.method.lower())
                kwargs: dict[str, Any] = {"headers": team[role].headers}
                if body is not None:
                    kwargs["json"] = body
                r = call(path, **kwargs)
                got_ok = 200 <= r.status_code < 300
                if allowed and not got_ok:
                    wrong.append(f"{role}/{whose}: expected 2xx, got {r.status_code} {r.text}")
                if not allowed and r.status_code != route.refused:
                    wrong.append(
                        f"{role}/{whose}: expected {route.refused}, got {r.status_code} {r.text}"
                    )
        assert wrong == []


CHANGES = [r for r in ROUTES if r.method != "GET"]


@pytest.mark.parametrize("route", CHANGES, ids=[r.path for r in CHANGES])
class TestRefusedChanges:
    def test_a_refused_change_leaves_the_data_as_it_was(self, team: Team, route: Route) -> None:
        """The viewer's refused call changes nothing: no merge made, none undone, no pair
        dismissed (the pair is still found)."""
        ids = _target(team, route, "viewer", "other", 99)
        before = [m.model_dump() for m in team.hub.list_merges()]
        r = getattr(team.client, route.method.lower())(
            _fill(route.path, ids),
            headers=team["viewer"].headers,
            **({"json": _fill(route.body, ids)} if route.body is not None else {}),
        )
        assert r.status_code == 403
        assert [m.model_dump() for m in team.hub.list_merges()] == before
        if route.target == "pair":
            assert [ids[0], ids[1]] in [c.ids for c in team.hub.find_duplicates().clusters]
