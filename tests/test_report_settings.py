"""Baselines and growth targets: what managers enter for the growth reports (API and CLI)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.test_growth_report import put_counts
from tracker.audit.models import AuditEntry
from tracker.extensions import db
from tracker.reports.models import Baseline, GrowthTarget, OfficeTarget, ReportSetting
from tracker.reports.targets import target_of

SEED_2017 = {"two_way": 579, "one_way": 307_871, "all_tthc": 1_101_607, "note": "Đồng Nai 2017"}


@pytest.fixture
def manager(make_staff):
    return make_staff("manager")


def audits(action: str) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return list(db.session.scalars(query))


def put_baseline(client, staff, year, body):
    return client.put(f"/api/v1/reports/baselines/{year}", json=body, headers=staff.headers)


def put_target(client, staff, year, body):
    return client.put(f"/api/v1/reports/targets/{year}", json=body, headers=staff.headers)


# Baselines ---------------------------------------------------------------------------------


def test_a_year_without_baseline_reads_as_nulls(client, manager):
    response = client.get("/api/v1/reports/baselines/2016", headers=manager.headers)

    assert response.status_code == 200
    assert response.get_json() == {
        "year": 2016,
        "two_way": None,
        "one_way": None,
        "send_only": None,
        "all_tthc": None,
        "note": None,
        "months": [],
        "updated_at": None,
        "updated_by": None,
    }


def test_baseline_round_trip_is_audited(client, manager):
    body = {
        **SEED_2017,
        "months": [
            {"month": 12, "two_way": 60, "one_way": 30_000},
            {"month": 1, "two_way": 40, "all_tthc": 90_000},
        ],
    }

    put = put_baseline(client, manager, 2017, body)
    got = client.get("/api/v1/reports/baselines/2017", headers=manager.headers)

    assert put.status_code == 200, put.get_json()
    assert got.get_json() == put.get_json()
    state = got.get_json()
    assert (state["two_way"], state["one_way"], state["send_only"]) == (579, 307_871, None)
    assert state["all_tthc"] == 1_101_607 and state["note"] == "Đồng Nai 2017"
    assert state["months"] == [
        {"month": 1, "two_way": 40, "one_way": None, "send_only": None, "all_tthc": 90_000},
        {"month": 12, "two_way": 60, "one_way": 30_000, "send_only": None, "all_tthc": None},
    ]
    assert state["updated_by"] == manager.user.username and state["updated_at"]
    [entry] = audits("report.baseline.set")
    assert (entry.entity, entry.entity_key, entry.actor_id) == (
        "report_year",
        "2017",
        manager.user.id,
    )
    assert entry.before is None
    assert entry.after["one_way"] == 307_871 and len(entry.after["months"]) == 2


def test_put_replaces_the_whole_baseline(client, manager):
    put_baseline(client, manager, 2017, {**SEED_2017, "months": [{"month": 3, "one_way": 5}]})

    response = put_baseline(client, manager, 2017, {"two_way": 600})

    state = response.get_json()
    assert response.status_code == 200
    assert (state["two_way"], state["one_way"], state["note"], state["months"]) == (
        600,
        None,
        None,
        [],
    )
    assert db.session.scalar(select(func.count()).select_from(Baseline)) == 1
    second = audits("report.baseline.set")[1]
    assert second.before["two_way"] == 579 and second.before["months"][0]["month"] == 3
    assert second.after == {
        "two_way": 600,
        "one_way": None,
        "send_only": None,
        "all_tthc": None,
        "note": None,
        "months": [],
    }


def test_a_body_without_figures_or_note_removes_the_baseline(client, manager):
    put_baseline(client, manager, 2017, {**SEED_2017, "months": [{"month": 3, "one_way": 5}]})

    response = put_baseline(client, manager, 2017, {"two_way": None})

    assert response.status_code == 200
    assert response.get_json()["updated_at"] is None and response.get_json()["months"] == []
    assert db.session.scalar(select(func.count()).select_from(Baseline)) == 0
    assert audits("report.baseline.set")[-1].after is None


def test_months_only_and_a_note_only_baseline(client, manager):
    months = put_baseline(client, manager, 2019, {"months": [{"month": 2, "send_only": 7}]})
    note = put_baseline(client, manager, 2016, {"note": "  Không có số liệu  "})

    assert months.get_json()["two_way"] is None
    assert months.get_json()["months"][0]["send_only"] == 7
    assert note.get_json()["note"] == "Không có số liệu"
    assert note.get_json()["updated_at"] is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"two_way": -1}, "two_way"),
        ({"one_way": 1.5}, "one_way"),
        ({"one_way": 3.0}, "one_way"),
        ({"send_only": "12"}, "send_only"),
        ({"all_tthc": True}, "all_tthc"),
        ({"all_tthc": 10**12 + 1}, "all_tthc"),
        ({"months": [{"month": 13, "two_way": 1}]}, "months.0.month"),
        ({"months": [{"month": 0, "two_way": 1}]}, "months.0.month"),
        ({"months": [{"two_way": 1}]}, "months.0.month"),
        ({"months": [{"month": 2, "one_way": 1}, {"month": 5, "one_way": -3}]}, "months.1.one_way"),
        ({"months": [{"month": 4, "two_way": 1}, {"month": 4, "two_way": 2}]}, "months.1.month"),
        ({"months": [{"month": 4}]}, "months.0"),
        ({"months": {"month": 4}}, "months"),
        (
            {"two_way": 10, "months": [{"month": 1, "two_way": 6}, {"month": 2, "two_way": 5}]},
            "two_way",
        ),
        ({"note": "x" * 2001}, "note"),
        ({"twoway": 5}, "twoway"),
    ],
)
def test_bad_baselines_are_422_on_the_field_and_write_nothing(client, manager, body, field):
    put_baseline(client, manager, 2017, SEED_2017)

    response = put_baseline(client, manager, 2017, body)

    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["fields"]) == [field]
    assert (
        client.get("/api/v1/reports/baselines/2017", headers=manager.headers).get_json()["two_way"]
        == 579
    )
    assert len(audits("report.baseline.set")) == 1


def test_the_months_may_add_up_to_the_year(client, manager):
    body = {"two_way": 10, "months": [{"month": 1, "two_way": 6}, {"month": 2, "two_way": 4}]}

    assert put_baseline(client, manager, 2017, body).status_code == 200


def test_managers_writing_a_new_year_at_once_get_200_or_409_never_500(app, manager):
    start = threading.Barrier(6)

    def put(figure):
        with app.app_context():
            start.wait()
            return app.test_client().put(
                "/api/v1/reports/baselines/2015",
                json={"two_way": figure, "months": [{"month": 1, "two_way": figure}]},
                headers=manager.headers,
            )

    db.session.commit()
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(put, range(6)))

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409} and 200 in statuses, statuses
    rows = list(db.session.scalars(select(Baseline).order_by(Baseline.month)))
    assert [row.month for row in rows] == [0, 1]
    assert rows[0].two_way == rows[1].two_way  # both rows from the same request
    assert len(audits("report.baseline.set")) == statuses.count(200)


@pytest.mark.parametrize("year", ["abc", "1999", "2101", "20170", "2017.0", "-2017", "%20201"])
@pytest.mark.parametrize("what", ["baselines", "targets"])
def test_bad_years_are_422_on_year(client, manager, year, what):
    url = f"/api/v1/reports/{what}/{year}"
    body = {"rate": 0.3} if what == "targets" else {"two_way": 1}

    for response in (
        client.get(url, headers=manager.headers),
        client.put(url, json=body, headers=manager.headers),
    ):
        assert response.status_code == 422, (year, response.data)
        assert list(response.get_json()["error"]["fields"]) == ["year"]
    assert db.session.scalar(select(func.count()).select_from(Baseline)) == 0


@pytest.mark.parametrize("what", ["baselines", "targets"])
def test_only_managers_and_admins(client, clerk, make_staff, what):
    url = f"/api/v1/reports/{what}/2018"
    body = {"rate": 0.3} if what == "targets" else {"two_way": 1}
    officer = make_staff("agency")
    admin = make_staff("admin")

    assert client.get(url).status_code == 401
    assert client.put(url, json=body).status_code == 401
    for staff in (clerk, officer):
        assert client.get(url, headers=staff.headers).status_code == 403
        assert client.put(url, json=body, headers=staff.headers).status_code == 403
    assert client.put(url, json=body, headers=admin.headers).status_code == 200
    assert client.get(url, headers=admin.headers).status_code == 200


# Targets -----------------------------------------------------------------------------------


def test_target_of_is_exact_and_rounds_up():
    assert target_of(10, Decimal("0.1")) == 11  # 10 * 1.1 is 11.000000000000002 in floats
    assert target_of(100, Decimal("0.3")) == 130
    assert target_of(579, Decimal("0.3")) == 753
    assert target_of(579, Decimal("0.25")) == 724
    assert target_of(0, Decimal("0.3")) == 0
    assert target_of(None, Decimal("0.3")) is None


def test_a_year_without_rate_uses_thirty_percent(client, manager):
    response = client.get("/api/v1/reports/targets/2018", headers=manager.headers)

    body = response.get_json()
    assert response.status_code == 200
    assert (body["rate"], body["is_default"], body["note"], body["updated_by"]) == (
        0.3,
        True,
        None,
        None,
    )
    assert set(body["targets"]) == {"two_way", "one_way", "send_only", "postal_total"}


def test_seed_case_targets_for_2018(client, manager):
    put_baseline(client, manager, 2017, SEED_2017)

    response = client.get("/api/v1/reports/targets/2018", headers=manager.headers)

    body = response.get_json()
    assert response.status_code == 200, body
    targets = body["targets"]
    assert (targets["two_way"], targets["one_way"], targets["postal_total"]) == (
        753,
        400_233,
        400_985,
    )
    assert body["previous"]["year"] == 2017
    assert body["previous"]["two_way"] == {"actual": 579, "basis": "baseline"}


def test_target_round_trip_with_another_rate_is_audited(client, manager):
    put_baseline(client, manager, 2017, SEED_2017)

    put = put_target(client, manager, 2018, {"rate": 0.25, "note": "Kế hoạch điều chỉnh"})
    got = client.get("/api/v1/reports/targets/2018", headers=manager.headers)

    assert put.status_code == 200, put.get_json()
    assert got.get_json() == put.get_json()
    body = got.get_json()
    assert (body["rate"], body["is_default"], body["note"]) == (0.25, False, "Kế hoạch điều chỉnh")
    assert body["updated_by"] == manager.user.username and body["updated_at"]
    assert body["targets"]["two_way"] == 724  # ceil(579 x 1.25) = ceil(723.75)
    assert body["targets"]["one_way"] == 384_839  # ceil(384,838.75)
    assert db.session.get(GrowthTarget, 2018).rate == Decimal("0.25")
    [entry] = audits("report.target.set")
    assert (entry.entity, entry.entity_key, entry.actor_id) == (
        "report_year",
        "2018",
        manager.user.id,
    )
    assert (entry.before, entry.after) == (None, {"rate": "0.25", "note": "Kế hoạch điều chỉnh"})


def test_a_null_rate_goes_back_to_the_default(client, manager):
    put_target(client, manager, 2018, {"rate": 0.5, "note": "tạm"})

    response = put_target(client, manager, 2018, {"rate": None})

    body = response.get_json()
    assert response.status_code == 200
    assert (body["rate"], body["is_default"], body["note"]) == (0.3, True, None)
    assert db.session.get(GrowthTarget, 2018) is None
    entry = audits("report.target.set")[-1]
    assert (entry.before, entry.after) == ({"rate": "0.5", "note": "tạm"}, None)


@pytest.mark.parametrize("rate", [0, 10, 0.0001, 1.2345, 3])
def test_rates_in_range_are_kept_exactly(client, manager, rate):
    response = put_target(client, manager, 2020, {"rate": rate})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["rate"] == rate
    assert db.session.get(GrowthTarget, 2020).rate == Decimal(str(rate))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rate": -0.1}, "rate"),
        ({"rate": 11}, "rate"),
        ({"rate": 10.0001}, "rate"),
        ({"rate": 0.12345}, "rate"),
        ({"rate": "0.3"}, "rate"),
        ({"rate": True}, "rate"),
        ({}, "rate"),
        ({"rate": 0.3, "note": 5}, "note"),
        ({"rate": 0.3, "year": 2019}, "year"),
    ],
)
def test_bad_rates_are_422_on_the_field_and_write_nothing(client, manager, body, field):
    put_target(client, manager, 2018, {"rate": 0.4})

    response = put_target(client, manager, 2018, body)

    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["fields"]) == [field]
    assert db.session.get(GrowthTarget, 2018).rate == Decimal("0.4")
    assert len(audits("report.target.set")) == 1


# Command line ------------------------------------------------------------------------------


def report(app, *args: str):
    return app.test_cli_runner().invoke(args=["report", *args])


def test_cli_baseline_set_edits_one_row_and_keeps_the_rest(app, client, manager):
    put_baseline(client, manager, 2017, {**SEED_2017, "months": [{"month": 1, "two_way": 40}]})

    month = report(app, "baseline", "set", "2017", "--month", "2", "--one-way", "25000")
    year = report(app, "baseline", "set", "2017", "--send-only", "12", "--note", "sửa")
    shown = report(app, "baseline", "show", "2017")

    assert month.exit_code == 0, month.output
    assert year.exit_code == 0, year.output
    state = client.get("/api/v1/reports/baselines/2017", headers=manager.headers).get_json()
    assert (state["two_way"], state["one_way"], state["send_only"]) == (579, 307_871, 12)
    assert (state["all_tthc"], state["note"]) == (1_101_607, "sửa")
    assert [(m["month"], m["two_way"], m["one_way"]) for m in state["months"]] == [
        (1, 40, None),
        (2, None, 25_000),
    ]
    assert state["updated_by"] is None  # the command line has no user
    assert shown.exit_code == 0
    assert "two_way 579, one_way 307871, send_only 12, all_tthc 1101607" in shown.output
    assert "note: sửa" in shown.output
    assert "month  2: two_way -, one_way 25000" in shown.output
    entries = audits("report.baseline.set")
    assert len(entries) == 3 and entries[-1].actor_id is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2017", "--two-way", "-1"], "two_way:"),
        (["2017", "--month", "13", "--two-way", "1"], "month:"),
        (["2017", "--month", "1", "--two-way", "600"], "two_way: the months add up to 600"),
        (["abc", "--two-way", "1"], "year:"),
        (["1999", "--two-way", "1"], "year:"),
        (["2017", "--month", "3"], "nothing to set"),
        (["2017"], "nothing to set"),
    ],
)
def test_cli_baseline_set_refuses_bad_input(app, args, message):
    report(app, "baseline", "set", "2017", "--two-way", "579")

    result = report(app, "baseline", "set", *args)

    assert result.exit_code == 1
    assert message in result.output
    rows = list(db.session.scalars(select(Baseline)))
    assert [(row.month, row.two_way) for row in rows] == [(0, 579)]


def test_cli_targets(app):
    report(app, "baseline", "set", "2017", "--two-way", "579", "--one-way", "307871")

    default = report(app, "target", "show", "2018")
    changed = report(app, "target", "set", "2018", "--rate", "0.25", "--note", "điều chỉnh")
    kept_note = report(app, "target", "set", "2018", "--rate", "0.2")

    assert default.exit_code == 0, default.output
    assert "2018: growth rate 30% (default)" in default.output
    assert "two_way      target 753 (2017: 579, baseline)" in default.output
    assert changed.exit_code == 0, changed.output
    assert "growth rate 25% (set by command line)" in changed.output
    assert "two_way      target 724" in changed.output
    assert kept_note.exit_code == 0
    row = db.session.get(GrowthTarget, 2018)
    assert (row.rate, row.note) == (Decimal("0.2"), "điều chỉnh")
    back = report(app, "target", "set", "2018", "--default")
    assert back.exit_code == 0 and "(default)" in back.output
    assert db.session.get(GrowthTarget, 2018) is None
    assert len(audits("report.target.set")) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2018", "--rate", "abc"], "rate:"),
        (["2018", "--rate", "-0.1"], "rate:"),
        (["2018", "--rate", "11"], "rate:"),
        (["2018", "--rate", "0.12345"], "rate: at most 4 decimal places"),
        (["2018", "--rate", "NaN"], "rate:"),
        (["2018"], "give either --rate R or --default"),
        (["2018", "--rate", "0.3", "--default"], "give either --rate R or --default"),
        (["x2018", "--rate", "0.3"], "year:"),
    ],
)
def test_cli_target_set_refuses_bad_input(app, args, message):
    result = report(app, "target", "set", *args)

    assert result.exit_code == 1
    assert message in result.output
    assert db.session.scalar(select(func.count()).select_from(GrowthTarget)) == 0


# The go-live date -------------------------------------------------------------------------

GO_LIVE = "/api/v1/reports/go-live"


def test_go_live_round_trip_is_audited_and_cleared_with_null(client, manager):
    empty = client.get(GO_LIVE, headers=manager.headers)
    put = client.put(
        GO_LIVE, json={"go_live_on": "2025-10-06", "note": "Bắt đầu"}, headers=manager.headers
    )
    got = client.get(GO_LIVE, headers=manager.headers)
    cleared = client.put(GO_LIVE, json={"go_live_on": None}, headers=manager.headers)

    assert empty.get_json() == {
        "go_live_on": None,
        "note": None,
        "updated_at": None,
        "updated_by": None,
    }
    assert put.status_code == 200, put.get_json()
    assert got.get_json() == put.get_json()
    assert (put.get_json()["go_live_on"], put.get_json()["updated_by"]) == (
        "2025-10-06",
        manager.user.username,
    )
    assert cleared.status_code == 200 and cleared.get_json()["go_live_on"] is None
    first, second = audits("report.go_live.set")
    assert (first.entity, first.entity_key, first.before) == ("report_settings", "go_live", None)
    assert first.after == {"go_live_on": "2025-10-06", "note": "Bắt đầu"}
    assert second.before == first.after and second.after == {"go_live_on": None, "note": None}


@pytest.mark.parametrize(
    "body",
    [
        {"go_live_on": "FUTURE"},
        {"go_live_on": "2025-13-01"},
        {"go_live_on": "06/10/2025"},
        {"go_live_on": 20251006},
        {"go_live_on": "1999-12-31"},
        {"note": "no date"},
        {"go_live_on": "2025-10-06", "golive": "x"},
    ],
)
def test_bad_go_live_dates_are_422_and_write_nothing(client, manager, today, body):
    if body.get("go_live_on") == "FUTURE":
        body = {"go_live_on": (today + timedelta(days=1)).isoformat()}

    response = client.put(GO_LIVE, json=body, headers=manager.headers)

    assert response.status_code == 422, response.get_json()
    fields = list(response.get_json()["error"]["fields"])
    assert fields == ["golive" if "golive" in body else "go_live_on"]
    assert db.session.get(ReportSetting, 1) is None and audits("report.go_live.set") == []


def test_go_live_is_for_managers_and_admins(client, clerk, make_staff):
    body = {"go_live_on": "2025-10-06"}
    assert client.get(GO_LIVE).status_code == 401
    assert client.put(GO_LIVE, json=body, headers=clerk.headers).status_code == 403
    assert client.put(GO_LIVE, json=body, headers=make_staff("admin").headers).status_code == 200


def test_cli_go_live(app):
    shown = report(app, "go-live")
    saved = report(app, "go-live", "2025-10-06", "--note", "demo")
    kept = report(app, "go-live", "2025-10-07")
    refused = report(app, "go-live", "2025-02-30")
    cleared = report(app, "go-live", "--clear")

    assert "go-live date: not set" in shown.output
    assert saved.exit_code == 0 and "go-live date: 2025-10-06" in saved.output
    assert "note: demo" in kept.output  # the note is kept
    assert refused.exit_code == 1 and "go_live_on:" in refused.output
    assert cleared.exit_code == 0 and "not set" in cleared.output
    assert len(audits("report.go_live.set")) == 3


# Targets of an office or a channel --------------------------------------------------------


def test_an_office_target_round_trip_is_audited_and_removed_by_an_empty_body(
    client, manager, catalogue
):
    url = "/api/v1/reports/targets/2019/offices/811000"
    body = {"two_way": 500, "postal_total": 5000, "weight": 0.125, "note": "Bưu cục mở rộng"}

    put = client.put(url, json=body, headers=manager.headers)
    got = client.get(url, headers=manager.headers)
    removed = client.put(url, json={}, headers=manager.headers)

    assert put.status_code == 200, put.get_json()
    assert got.get_json() == put.get_json()
    state = put.get_json()
    assert (state["dimension"], state["code"], state["name"]) == (
        "office",
        "811000",
        "Bưu cục Long Khánh",
    )
    assert (state["two_way"], state["one_way"], state["postal_total"]) == (500, None, 5000)
    assert (state["weight"], state["updated_by"]) == (0.125, manager.user.username)
    assert removed.status_code == 200
    assert (removed.get_json()["two_way"], removed.get_json()["updated_at"]) == (None, None)
    assert db.session.scalars(select(OfficeTarget)).all() == []
    first, second = audits("report.office_target.set")
    assert (first.entity, first.entity_key, first.before) == (
        "office_target",
        "2019/office/811000",
        None,
    )
    assert first.after["weight"] == "0.125" and second.after is None


def test_a_channel_target_shows_in_the_report(client, manager, catalogue):
    put_counts(date(2018, 3, 1), catalogue.office, catalogue.procedure, "two_way", taken=10)
    url = "/api/v1/reports/targets/2018/channels/hotline_1022"

    put = client.put(url, json={"weight": 0.5}, headers=manager.headers)
    report_ = client.get(
        "/api/v1/reports/growth", query_string={"year": 2018}, headers=manager.headers
    ).get_json()

    assert put.status_code == 200, put.get_json()
    rows = {row["code"]: row["metrics"]["two_way"] for row in report_["breakdowns"]["channel"]}
    # No 2017 figure for anyone: the province has no target, so neither has the weight one.
    assert rows["hotline_1022"]["target"] is None
    assert rows["hotline_1022"]["actual"] == 0  # shown though it took nothing: it has a weight


@pytest.mark.parametrize(
    ("url", "body", "status", "field"),
    [
        ("/api/v1/reports/targets/2019/offices/999999", {"two_way": 1}, 404, "code"),
        ("/api/v1/reports/targets/2019/channels/810000", {"two_way": 1}, 404, "code"),
        ("/api/v1/reports/targets/2019/offices/810000", {"weight": 1.5}, 422, "weight"),
        ("/api/v1/reports/targets/2019/offices/810000", {"weight": 0.12345}, 422, "weight"),
        ("/api/v1/reports/targets/2019/offices/810000", {"weight": "0.1"}, 422, "weight"),
        ("/api/v1/reports/targets/2019/offices/810000", {"two_way": -1}, 422, "two_way"),
        ("/api/v1/reports/targets/2019/offices/810000", {"postal_total": 1.5}, 422, "postal_total"),
        ("/api/v1/reports/targets/2019/offices/810000", {"target": 5}, 422, "target"),
        ("/api/v1/reports/targets/19/offices/810000", {"two_way": 1}, 422, "year"),
    ],
)
def test_bad_office_targets_are_refused_on_the_field(
    client, manager, catalogue, url, body, status, field
):
    response = client.put(url, json=body, headers=manager.headers)

    assert response.status_code == status, response.get_json()
    assert list(response.get_json()["error"]["fields"]) == [field]
    assert db.session.scalars(select(OfficeTarget)).all() == []


def test_office_targets_are_for_managers_and_admins(client, clerk, catalogue):
    url = "/api/v1/reports/targets/2019/offices/810000"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=clerk.headers).status_code == 403
    assert client.put(url, json={"two_way": 1}, headers=clerk.headers).status_code == 403
