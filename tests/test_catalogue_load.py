"""Loading the catalogue: the procedure, commune and service-area CSV loaders, `flask catalogue
load` and `load-demo`, the catalogue page's upload of communes and service areas."""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.pages import csrf_of, sign_in, text_of
from tracker.audit.models import AuditEntry
from tracker.calendar import today_vn
from tracker.catalogue.areas import load_communes_csv, load_service_areas_csv
from tracker.catalogue.models import (
    Agency,
    Channel,
    Commune,
    Office,
    Procedure,
    Sector,
    ServiceArea,
)
from tracker.catalogue.operations import AGENCY_CODE, load_catalogue, load_procedures_csv
from tracker.catalogue.queries import serving_office
from tracker.errors import ValidationFailed
from tracker.extensions import db

HEADER = "code,name,sector,agency,working_days,service_forms,fee_vnd\n"
STRUCTURE = {
    "channels": [
        {"code": "post_l1", "name_vi": "Bưu cục cấp 1", "name_en": "Level 1", "national_code": 3}
    ],
    "offices": [{"code": "810000", "name": "Bưu cục Biên Hòa", "channel": "post_l1"}],
    "sectors": [
        {"code": "TP", "name_vi": "Tư pháp", "name_en": "Justice"},
        {"code": "XD", "name_vi": "Xây dựng", "name_en": "Construction"},
    ],
    "agencies": [
        {"code": "000.00.01.H19", "name": "Sở Tư pháp tỉnh Đồng Nai"},
        {"code": "000.00.02.H19", "name": "Sở Xây dựng tỉnh Đồng Nai"},
    ],
}
GOOD = (
    HEADER
    + "1.001234,Cấp lý lịch tư pháp,TP,000.00.01.H19,10,two_way|return_only|send_only,200000\n"
    + "1.004567,Cấp bản sao trích lục hộ tịch,TP,000.00.01.H19,3,return_only,\n"
    + '1.009876,"Cấp phép xây dựng, sửa chữa",XD,000.00.02.H19,15,two_way|send_only,1.200.000\n'
)


@pytest.fixture
def structure(app) -> None:
    """Sectors and agencies only: the loader tests start without any procedure."""
    load_catalogue(STRUCTURE)
    db.session.commit()


def csv_file(tmp_path: Path, text: str, name: str = "procedures.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def procedures() -> dict[str, Procedure]:
    return {p.code: p for p in db.session.scalars(select(Procedure))}


def test_load_inserts_valid_rows(structure, tmp_path):
    report = load_procedures_csv(csv_file(tmp_path, GOOD))
    db.session.commit()

    assert (report.created, report.updated, report.errors) == (3, 0, [])
    loaded = procedures()
    assert sorted(loaded) == ["1.001234", "1.004567", "1.009876"]
    first = loaded["1.001234"]
    assert first.search_name == "cap ly lich tu phap"
    assert (first.sector.code, first.agency.code, first.working_days) == ("TP", "000.00.01.H19", 10)
    assert first.service_forms == ["two_way", "return_only", "send_only"]
    assert first.fee_vnd == 200000
    assert loaded["1.004567"].service_forms == ["return_only"]
    assert loaded["1.004567"].fee_vnd is None
    building = loaded["1.009876"]
    assert building.name == "Cấp phép xây dựng, sửa chữa"
    assert building.service_forms == ["two_way", "send_only"]
    assert building.fee_vnd == 1_200_000  # thousands grouped as Vietnamese Excel writes them


def test_each_bad_row_is_reported_with_line_field_and_reason(structure, tmp_path):
    text = HEADER + (
        "1.000001,Thủ tục hợp lệ,TP,000.00.01.H19,5,two_way,0\n"  # line 2
        "1.000002,,TP,000.00.01.H19,5,two_way,\n"
        "1.000003,Lĩnh vực lạ,ZZ,000.00.01.H19,5,two_way,\n"
        "1.000004,Cơ quan lạ,TP,000.00.99.H19,5,two_way,\n"
        "1.000005,Thời hạn 0,TP,000.00.01.H19,0,two_way,\n"
        "1.000006,Thời hạn chữ,TP,000.00.01.H19,mười,two_way,\n"  # line 7
        "1.000007,Hình thức lạ,TP,000.00.01.H19,5,two_way|by_pigeon,\n"
        "1.000008,Phí âm,TP,000.00.01.H19,5,two_way,-5000\n"
        "1.000001,Trùng mã,TP,000.00.01.H19,5,two_way,\n"
        "1.000009,Hai lỗi,TP,000.00.01.H19,,,\n"
        ",Không mã,TP,000.00.01.H19,5,two_way,\n"
        "1 000 010,Mã có dấu cách,TP,000.00.01.H19,5,two_way,\n"
        "1.000011,Thừa ô,TP,000.00.01.H19,5,two_way,0,thừa\n"
        "1.000012,Phí lẻ,TP,000.00.01.H19,5,two_way,12.5\n"
        "1.000013,Thủ tục hợp lệ 2,XD,000.00.02.H19,7,send_only,\n"  # line 16
    )
    report = load_procedures_csv(csv_file(tmp_path, text))
    db.session.commit()

    forms = "two_way|return_only|send_only"
    fee = "must be a whole number of VND, not negative (or empty)"
    assert [str(error) for error in report.errors] == [
        "line 3: name: required",
        "line 4: sector: unknown sector ZZ",
        "line 5: agency: unknown agency 000.00.99.H19 (give agency_name to create it)",
        "line 6: working_days: must be a positive whole number",
        "line 7: working_days: must be a positive whole number",
        f"line 8: service_forms: unknown by_pigeon; use {forms}",
        f"line 9: fee_vnd: {fee}",
        "line 10: code: 1.000001 is already on line 2",
        "line 11: working_days: required",
        "line 11: service_forms: required",
        "line 12: code: required",
        "line 13: code: must be letters, digits, dots or dashes, at most 40 (e.g. 1.001234)",
        "line 14: row: 8 cells but 7 columns",
        f"line 15: fee_vnd: {fee}",
    ]
    assert (report.created, report.updated) == (2, 0)
    assert sorted(procedures()) == ["1.000001", "1.000013"]
    assert procedures()["1.000001"].name == "Thủ tục hợp lệ"


def test_unknown_agency_is_created_when_named_in_national_format(structure, tmp_path):
    text = (
        "code,name,sector,agency,agency_name,working_days,service_forms\n"
        "1.000020,Thủ tục của cơ quan mới,TP,000.00.20.H19,Sở Ngoại vụ tỉnh Đồng Nai,10,two_way\n"
        "1.000021,Cùng cơ quan mới,TP,000.00.20.H19,,10,two_way\n"
        "1.000022,Mã cơ quan sai,TP,SNV-DN,Sở Ngoại vụ,10,two_way\n"
        f"1.000023,Tên quá dài,TP,000.00.21.H19,{'Sở' * 151},10,two_way\n"
    )
    report = load_procedures_csv(csv_file(tmp_path, text))
    db.session.commit()

    assert [str(error) for error in report.errors] == [
        "line 4: agency: SNV-DN is not in the national format 000.00.01.H19",
        "line 5: agency_name: at most 300 characters",
    ]
    agency = db.session.scalar(select(Agency).where(Agency.code == "000.00.20.H19"))
    assert agency.name == "Sở Ngoại vụ tỉnh Đồng Nai"
    assert {p.agency.code for p in procedures().values()} == {"000.00.20.H19"}
    assert procedures()["1.000020"].fee_vnd is None  # no fee column at all


def test_semicolon_bom_crlf_from_a_stream(structure):
    nfd_name = unicodedata.normalize("NFD", "Đổi Giấy phép lái xe")
    text = (
        "STT;Code;Name;Sector;Agency;Working days;Service_Forms;Fee_VND\r\n"
        f"1;1.002809;{nfd_name};TP;000.00.01.H19;5;two_way|return_only;135.000\r\n"
        "2;1.002804;Cấp lại Giấy phép lái xe, hạng A1;TP;000.00.01.H19;10;return_only;\r\n"
        ";;;;;;;\r\n"  # the empty rows Excel leaves at the end
    )
    report = load_procedures_csv(io.BytesIO(("\ufeff" + text).encode("utf-8")))

    assert (report.created, report.errors, report.ignored_columns) == (2, [], ["stt"])
    licence = procedures()["1.002809"]
    assert licence.name == "Đổi Giấy phép lái xe"  # stored composed (NFC)
    assert licence.search_name == "doi giay phep lai xe"
    assert licence.fee_vnd == 135_000
    assert procedures()["1.002804"].name == "Cấp lại Giấy phép lái xe, hạng A1"


def test_reloading_updates_instead_of_duplicating(structure, tmp_path):
    load_procedures_csv(csv_file(tmp_path, GOOD))
    db.session.commit()
    changed = (
        GOOD.replace("Cấp lý lịch tư pháp,TP,000.00.01.H19,10", "Cấp Phiếu LLTP,TP,000.00.01.H19,8")
        + "2.000001,Thủ tục mới,XD,000.00.02.H19,5,two_way,\n"
    )
    report = load_procedures_csv(csv_file(tmp_path, changed, "again.csv"))
    db.session.commit()

    assert (report.created, report.updated, report.errors) == (1, 3, [])
    assert db.session.scalar(select(func.count()).select_from(Procedure)) == 4
    record = procedures()["1.001234"]
    assert (record.name, record.search_name, record.working_days) == (
        "Cấp Phiếu LLTP",
        "cap phieu lltp",
        8,
    )


def test_catalogue_changes_are_audited_and_unchanged_rows_are_not(structure, tmp_path):
    load_procedures_csv(csv_file(tmp_path, GOOD))
    db.session.commit()
    changed = GOOD.replace(
        "Cấp lý lịch tư pháp,TP,000.00.01.H19,10", "Cấp lý lịch tư pháp,TP,000.00.01.H19,8"
    )
    load_procedures_csv(csv_file(tmp_path, changed, "again.csv"))
    db.session.commit()

    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "procedures").order_by(AuditEntry.id)
    ).all()
    assert [(e.action, e.entity_key) for e in entries] == [
        ("procedures.create", "1.001234"),
        ("procedures.create", "1.004567"),
        ("procedures.create", "1.009876"),
        ("procedures.update", "1.001234"),
    ]
    update = entries[-1]
    assert (update.before["working_days"], update.after["working_days"]) == (10, 8)
    assert update.after["agency"] == "000.00.01.H19"


def test_quoted_cells_spanning_lines_keep_physical_line_numbers(structure, tmp_path):
    text = HEADER + (
        '1.000001,"Tên trên\nhai dòng",TP,000.00.01.H19,5,two_way,\n'
        "\n"
        "1.000002,Sai,TP,000.00.01.H19,x,two_way,\n"
    )
    report = load_procedures_csv(csv_file(tmp_path, text))

    assert [str(error) for error in report.errors] == [
        "line 5: working_days: must be a positive whole number"
    ]
    assert procedures()["1.000001"].name == "Tên trên hai dòng"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "line 1: header: the file is empty"),
        (
            b"code,name,sector,agency,service_forms\n1.0001,Ten,TP,000.00.01.H19,two_way\n",
            "line 1: header: missing column(s): working_days",
        ),
        (
            HEADER.encode() + b"1.000001,Caf\xe9,TP,000.00.01.H19,5,two_way,\n",
            'line 2: file: not UTF-8 text: save it as "CSV UTF-8"',
        ),
    ],
    ids=["empty", "missing-column", "not-utf8"],
)
def test_an_unreadable_file_loads_nothing(structure, content, expected):
    report = load_procedures_csv(io.BytesIO(content))

    assert [str(error) for error in report.errors] == [expected]
    assert report.loaded == 0
    assert procedures() == {}


def test_load_catalogue_names_the_bad_entry(app):
    with pytest.raises(ValidationFailed) as caught:
        load_catalogue({"offices": [{"code": "X1", "name": "Quầy lạ", "channel": "pigeon"}]})
    assert caught.value.fields == {"offices[0].channel": ["unknown channel pigeon"]}
    with pytest.raises(ValidationFailed) as caught:
        load_catalogue({"agencies": [{"code": "SO-TP", "name": "Sở Tư pháp"}]})
    assert list(caught.value.fields) == ["agencies[0].code"]
    with pytest.raises(ValidationFailed) as caught:
        load_catalogue({"sectors": [{"code": "TP", "name_vi": "T" * 201, "name_en": "Justice"}]})
    assert caught.value.fields == {"sectors[0].name_vi": ["too long"]}


# ---- the CLI ----------------------------------------------------------------------------------


def test_cli_load_prints_counts_and_is_repeatable(app, structure, tmp_path):
    path = csv_file(tmp_path, GOOD)
    runner = app.test_cli_runner()

    first = runner.invoke(args=["catalogue", "load", str(path)])
    second = runner.invoke(args=["catalogue", "load", str(path)])

    assert (first.exit_code, first.output) == (0, "loaded 3 procedures (3 new, 0 updated)\n")
    assert (second.exit_code, second.output) == (0, "loaded 3 procedures (0 new, 3 updated)\n")
    assert db.session.scalar(select(func.count()).select_from(Procedure)) == 3


def test_cli_load_saves_valid_rows_lists_bad_ones_and_exits_1(app, structure, tmp_path):
    text = HEADER + (
        "1.000001,Hợp lệ,TP,000.00.01.H19,5,two_way,\n"
        "1.000002,Sai thời hạn,TP,000.00.01.H19,-1,two_way,\n"
        "1.000003,Sai lĩnh vực,YT,000.00.01.H19,5,two_way,\n"
    )
    result = app.test_cli_runner().invoke(args=["catalogue", "load", str(csv_file(tmp_path, text))])

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "loaded 1 procedures (1 new, 0 updated)",
        "line 3: working_days: must be a positive whole number",
        "line 4: sector: unknown sector YT",
        "2 line(s) not loaded, see above",
    ]
    db.session.rollback()  # what the command committed stays
    assert sorted(procedures()) == ["1.000001"]


def test_cli_dry_run_saves_nothing(app, structure, tmp_path):
    args = ["catalogue", "load", "--dry-run", str(csv_file(tmp_path, GOOD))]
    result = app.test_cli_runner().invoke(args=args)

    assert (result.exit_code, result.output) == (0, "would load 3 procedures (3 new, 0 updated)\n")
    assert procedures() == {}


def test_cli_load_demo_loads_the_sample_catalogue_twice_without_duplicates(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["catalogue", "load-demo"])
    second = runner.invoke(args=["catalogue", "load-demo"])

    assert first.exit_code == 0, first.output
    assert "SAMPLE" in first.output
    total = int(re.search(r"loaded (\d+) procedures \(\1 new, 0 updated\)", first.output)[1])
    assert total >= 30
    assert f"loaded {total} procedures (0 new, {total} updated)" in second.output
    assert db.session.scalar(select(func.count()).select_from(Procedure)) == total
    assert_sample_catalogue()


def assert_sample_catalogue() -> None:
    channels = {c.code: c for c in db.session.scalars(select(Channel))}
    assert set(channels) == {
        "post_l1", "post_l2", "post_l3", "commune_post_point", "provincial_pac", "hotline_1022",
        "district_one_stop", "commune_pasc",
    }  # fmt: skip
    assert channels["post_l1"].national_code == 3
    assert channels["hotline_1022"].national_code == 3
    offices = list(db.session.scalars(select(Office)))
    assert {o.channel.code for o in offices} == set(channels)
    assert {o.province for o in offices} == {"Đồng Nai"}
    desks = [o for o in offices if o.channel.code == "district_one_stop"]
    assert {o.active_to for o in desks} == {date(2025, 6, 30)}
    centres = [o for o in offices if o.channel.code == "commune_pasc"]
    assert {o.active_from for o in centres} == {date(2025, 7, 1)}
    sectors = {s.name_en for s in db.session.scalars(select(Sector))}
    assert sectors >= {
        "Agriculture and Rural Development", "Industry and Trade", "Health",
        "Information and Communications", "Labour, Invalids and Social Affairs", "Foreign Affairs",
        "Culture, Sports and Tourism", "Construction", "Transport", "Home Affairs",
        "Natural Resources and Environment", "Science and Technology", "Planning and Investment",
    }  # fmt: skip
    agencies = list(db.session.scalars(select(Agency)))
    assert all(AGENCY_CODE.match(a.code) and a.code.endswith(".H19") for a in agencies)
    used = {p.sector.name_en for p in db.session.scalars(select(Procedure))}
    assert used == sectors  # every sector has procedures
    communes = list(db.session.scalars(select(Commune)))
    assert len(communes) >= 10 and {c.province for c in communes} == {"Đồng Nai"}
    serving = {serving_office(c, today_vn()) for c in communes}
    assert None not in serving  # every demo commune is served today...
    post = {"post_l1", "post_l2", "post_l3", "commune_post_point"}
    assert {o.channel.code for o in serving} <= post
    # ...and the demo shows a commune that changed office.
    assert db.session.scalar(select(func.count()).where(ServiceArea.active_to.is_not(None)))


# ---- communes and service areas ---------------------------------------------------------------

COMMUNES = (
    "code,name,province,active_from\n"
    "26041,Phường Trấn Biên,Đồng Nai,2025-07-01\n"
    "26045,Phường Hố Nai,Đồng Nai,01/07/2025\n"
)


def communes() -> dict[str, Commune]:
    db.session.expire_all()
    return {c.code: c for c in db.session.scalars(select(Commune))}


def service_areas() -> list[tuple[str, str, date | None, date | None]]:
    db.session.expire_all()
    rows = db.session.scalars(select(ServiceArea))
    return sorted((a.commune.code, a.office.code, a.active_from, a.active_to) for a in rows)


@pytest.fixture
def offices(structure) -> None:
    office = {"code": "813000", "name": "Bưu cục Long Khánh", "channel": "post_l1"}
    load_catalogue({"offices": [office]})
    db.session.commit()


def test_communes_load_and_reload_by_code(app, tmp_path):
    report = load_communes_csv(csv_file(tmp_path, COMMUNES))
    db.session.commit()
    assert (report.kind, report.created, report.updated, report.errors) == ("communes", 2, 0, [])
    loaded = communes()
    assert loaded["26045"].name == "Phường Hố Nai"
    assert loaded["26045"].active_from == date(2025, 7, 1)

    # Without the period columns, a reload keeps what the rows had.
    again = load_communes_csv(io.StringIO("code;name;province\n26045;Phường  Hố Nai 2;Đồng Nai\n"))
    db.session.commit()
    assert (again.created, again.updated) == (0, 1)
    assert (communes()["26045"].name, communes()["26045"].active_from) == (
        "Phường Hố Nai 2",
        date(2025, 7, 1),
    )
    actions = [
        (e.action, e.entity_key)
        for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    ]
    assert actions == [
        ("communes.create", "26041"),
        ("communes.create", "26045"),
        ("communes.update", "26045"),
    ]


def test_bad_commune_rows_are_reported_and_good_ones_kept(app):
    text = (
        "code,name,province,active_from,active_to\n"
        "26041,Phường Trấn Biên,Đồng Nai,,\n"
        "2604,Phường Lẻ,Đồng Nai,,\n"
        "26041,Phường Lặp,Đồng Nai,,\n"
        "26042,,Đồng Nai,31/02/2025,\n"
        "26043,Phường Sai Hạn,Đồng Nai,2025-07-01,2025-06-30\n"
        "26044,Phường\x00,Đồng Nai,,\n"
    )
    report = load_communes_csv(io.StringIO(text))
    assert [str(e) for e in report.errors] == [
        "line 3: code: must be the commune's national code, 5 digits",
        "line 4: code: 26041 is already on line 2",
        "line 5: name: required",
        "line 5: active_from: must be a date YYYY-MM-DD or DD/MM/YYYY",
        "line 6: active_to: must not be before the start",
        "line 7: name: must not contain NUL characters",
    ]
    assert sorted(communes()) == ["26041"]


def test_service_areas_keep_each_communes_history_in_date_order(app, offices, tmp_path):
    load_communes_csv(io.StringIO(COMMUNES))
    # The new office's row first: rows are written in date order, whatever the file's.
    text = (
        "commune,office,active_from,active_to\n"
        "26045,813000,2026-01-01,\n"
        "26045,810000,2025-07-01,2025-12-31\n"
        "26041,810000,,\n"
    )
    report = load_service_areas_csv(csv_file(tmp_path, text, "areas.csv"))
    db.session.commit()

    assert (report.kind, report.created, report.updated, report.errors) == (
        "service_areas",
        3,
        0,
        [],
    )
    assert service_areas() == [
        ("26041", "810000", None, None),
        ("26045", "810000", date(2025, 7, 1), date(2025, 12, 31)),
        ("26045", "813000", date(2026, 1, 1), None),
    ]
    hố_nai = communes()["26045"]
    assert serving_office(hố_nai, date(2025, 12, 31)).code == "810000"
    assert serving_office(hố_nai, date(2026, 1, 1)).code == "813000"
    assert serving_office(hố_nai, date(2025, 6, 30)) is None
    keys = [e.entity_key for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert keys[-3:] == ["26041@-", "26045@2025-07-01", "26045@2026-01-01"]

    # A reload matched on (commune, active_from); without active_to the end is kept.
    again = load_service_areas_csv(
        io.StringIO("commune,office,active_from\n26045,813000,01/07/2025\n")
    )
    db.session.commit()
    assert (again.created, again.updated, again.errors) == (0, 1, [])
    assert service_areas()[1] == ("26045", "813000", date(2025, 7, 1), date(2025, 12, 31))


def test_bad_service_area_rows_are_reported_and_overlaps_refused(app, offices):
    load_communes_csv(io.StringIO(COMMUNES))
    text = (
        "commune,office,active_from,active_to\n"
        "26041,810000,2025-07-01,\n"
        "26041,813000,2026-01-01,\n"
        "99999,810000,,\n"
        "26045,999999,,\n"
        "26045,810000,2026-01-01,2025-01-01\n"
        "26041,810000,2025-07-01,2025-12-31\n"
        "26045,,,\n"
    )
    report = load_service_areas_csv(io.StringIO(text))
    db.session.commit()

    assert [str(e) for e in report.errors] == [
        "line 3: active_from: overlaps the period of office 810000 (2025-07-01 to -)",
        "line 4: commune: unknown commune 99999",
        "line 5: office: unknown office 999999",
        "line 6: active_to: must not be before the start",
        "line 7: commune: 26041 from the same day is already on line 2",
        "line 8: office: required",
    ]
    assert service_areas() == [("26041", "810000", date(2025, 7, 1), None)]


def test_the_cli_loads_communes_and_service_areas_by_kind(app, offices, tmp_path):
    runner = app.test_cli_runner()
    path = csv_file(tmp_path, COMMUNES, "communes.csv")
    first = runner.invoke(args=["catalogue", "load", "--kind", "communes", str(path)])
    assert (first.exit_code, first.output) == (0, "loaded 2 communes (2 new, 0 updated)\n")
    areas = csv_file(tmp_path, "commune,office\n26041,810000\n26045,zzz\n", "areas.csv")
    second = runner.invoke(args=["catalogue", "load", "--kind", "service_areas", str(areas)])
    assert second.exit_code == 1
    assert second.output.splitlines() == [
        "loaded 1 service areas (1 new, 0 updated)",
        "line 3: office: unknown office zzz",
        "1 line(s) not loaded, see above",
    ]
    wrong = runner.invoke(args=["catalogue", "load", "--kind", "streets", str(path)])
    assert wrong.exit_code == 2
    db.session.rollback()
    assert service_areas() == [("26041", "810000", None, None)]


def test_the_catalogue_page_loads_communes_and_service_areas(app, client, make_staff, offices):
    admin = make_staff("admin")
    assert sign_in(client, admin.user.username).status_code == 302

    def upload(kind: str, text: str):
        token = csrf_of(client.get("/admin/catalogue"))
        data = {"csrf_token": token, "kind": kind, "file": (io.BytesIO(text.encode()), "x.csv")}
        return client.post("/admin/catalogue/load", data=data, content_type="multipart/form-data")

    page = upload("communes", COMMUNES)
    assert page.status_code == 200
    assert "Xã, phường mới 2" in text_of(page)
    page = upload("service_areas", "commune,office\n26041,810000\n")
    assert page.status_code == 200 and "Địa bàn phục vụ mới 1" in text_of(page)
    assert service_areas() == [("26041", "810000", None, None)]
    loads = db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("%.load")))
    assert sorted(loads) == ["communes.load", "service_areas.load"]
    refused = upload("streets", COMMUNES)
    assert refused.status_code == 422
    assert "Hãy chọn loại dữ liệu trong tệp" in text_of(refused)
