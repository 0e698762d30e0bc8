"""A province-sized catalogue for the benchmark: the channels, offices, agencies, sectors and the
942 procedures of the seed document (Đồng Nai, Decision 1499/QĐ-UBND)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tracker.catalogue.models import Agency, Channel, Office, Procedure, Sector
from tracker.extensions import db
from tracker.text import fold

PROCEDURE_COUNT = 942
DISTRICTS = (
    "Biên Hòa",
    "Long Khánh",
    "Nhơn Trạch",
    "Long Thành",
    "Trảng Bom",
    "Thống Nhất",
    "Vĩnh Cửu",
    "Định Quán",
    "Tân Phú",
    "Xuân Lộc",
    "Cẩm Mỹ",
)
SECTORS = (
    ("NN", "Nông nghiệp và Phát triển nông thôn", "Agriculture and Rural Development"),
    ("CT", "Công Thương", "Industry and Trade"),
    ("YT", "Y tế", "Health"),
    ("TT", "Thông tin và Truyền thông", "Information and Communications"),
    ("LD", "Lao động - Thương binh và Xã hội", "Labour, Invalids and Social Affairs"),
    ("NG", "Ngoại vụ", "Foreign Affairs"),
    ("VH", "Văn hóa, Thể thao và Du lịch", "Culture, Sports and Tourism"),
    ("XD", "Xây dựng", "Construction"),
    ("GT", "Giao thông vận tải", "Transport"),
    ("NV", "Nội vụ", "Home Affairs"),
    ("TN", "Tài nguyên và Môi trường", "Natural Resources and Environment"),
    ("KH", "Khoa học và Công nghệ", "Science and Technology"),
    ("KD", "Kế hoạch và Đầu tư", "Planning and Investment"),
)
# (code, Vietnamese name, English name, offices per district); None: one office province-wide.
CHANNELS = (
    ("post_l1", "Bưu cục cấp 1", "Level 1 post office", 1),
    ("post_l2", "Bưu cục cấp 2", "Level 2 post office", 2),
    ("post_l3", "Bưu cục cấp 3", "Level 3 post office", 2),
    ("cultural_point", "Điểm Bưu điện Văn hóa xã", "Commune cultural post point", 3),
    ("one_stop", "Bộ phận Một cửa cấp huyện", "District one-stop desk", 1),
    ("pac", "Trung tâm Hành chính công tỉnh", "Provincial Public Administration Centre", None),
    ("hotline_1022", "Tổng đài Dịch vụ công 1022", "Public-service hotline 1022", None),
)
# How much of the intake each channel takes (relative, per office).
CHANNEL_WEIGHT = {
    "post_l1": 12.0,
    "post_l2": 4.0,
    "post_l3": 2.0,
    "cultural_point": 0.5,
    "one_stop": 6.0,
    "pac": 25.0,
    "hotline_1022": 8.0,
}
WORKING_DAYS = (3, 5, 7, 10, 15, 20, 30)


@dataclass(frozen=True)
class ProcedureRef:
    id: int
    code: str
    agency_id: int
    agency_code: str
    working_days: int
    fee_vnd: int
    service_forms: tuple[str, ...]


@dataclass(frozen=True)
class OfficeRef:
    id: int
    code: str
    channel_id: int
    channel_code: str


@dataclass
class CatalogueRefs:
    procedures: list[ProcedureRef]
    offices: list[OfficeRef]


def build_catalogue(rng: random.Random) -> CatalogueRefs:
    """Insert the catalogue (ORM, about a thousand rows) and commit."""
    channels = {
        code: Channel(code=code, name_vi=vi, name_en=en, national_code=3)
        for code, vi, en, _ in CHANNELS
    }
    offices = _offices(channels)
    sectors = [Sector(code=code, name_vi=vi, name_en=en) for code, vi, en in SECTORS]
    departments = [
        Agency(code=f"000.00.{i:02d}.H19", name=f"Sở {s.name_vi} tỉnh Đồng Nai")
        for i, s in enumerate(sectors, start=1)
    ]
    districts = [
        Agency(code=f"000.{i:02d}.20.H19", name=f"UBND {name}")
        for i, name in enumerate(DISTRICTS, start=1)
    ]
    procedures = []
    for number in range(1, PROCEDURE_COUNT + 1):
        sector_index = rng.randrange(len(sectors))
        agency = departments[sector_index] if rng.random() < 0.7 else rng.choice(districts)
        return_only = rng.random() < 0.1
        name = f"Thủ tục {sectors[sector_index].name_vi.lower()} số {number}"
        procedures.append(
            Procedure(
                code=f"1.{number:06d}",
                name=name,
                search_name=fold(name),
                sector=sectors[sector_index],
                agency=agency,
                working_days=rng.choice(WORKING_DAYS),
                allows_two_way=not return_only,
                allows_send_only=not return_only,
                fee_vnd=rng.choice((0, 0, 50_000, 100_000, 200_000)),
            )
        )
    db.session.add_all(
        [*channels.values(), *offices, *sectors, *departments, *districts, *procedures]
    )
    db.session.flush()
    refs = CatalogueRefs(
        procedures=[
            ProcedureRef(
                p.id,
                p.code,
                p.agency_id,
                p.agency.code,
                p.working_days,
                p.fee_vnd or 0,
                tuple(p.service_forms),
            )
            for p in procedures
        ],
        offices=[OfficeRef(o.id, o.code, o.channel_id, o.channel.code) for o in offices],
    )
    # Read before the commit: committing expires every attribute (one query per object to reload).
    db.session.commit()
    return refs


def _offices(channels: dict[str, Channel]) -> list[Office]:
    offices = []
    number = 0
    for code, vi, _, per_district in CHANNELS:
        places = (
            [(d, i) for d in DISTRICTS for i in range(per_district)]
            if per_district
            else [(None, 0)]
        )
        for district, index in places:
            number += 1
            where = f" {district}" + (f" {index + 1}" if per_district and per_district > 1 else "")
            offices.append(
                Office(
                    code=f"81{number:04d}",
                    name=f"{vi}{where if district else ''}",
                    channel=channels[code],
                    district=district,
                    province="Đồng Nai",
                )
            )
    return offices
