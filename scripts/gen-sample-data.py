#!/usr/bin/env python3
"""Synthetic sample data for dxgate's demo, tests and benchmarks.

  gen-sample-data.py --out DIR [--population N] [--business N] [--seed S]

Writes DIR/population.csv (Ministry of Public Security's population registry,
CSV) and DIR/business.jsonl (Ministry of Finance's business registry, JSON
Lines). Deterministic for a given seed; every value is invented.
"""
import argparse
import json
import os
import random

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ",
            "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc", "Gia"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng",
         "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phúc",
         "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tú", "Vy", "Yến"]
# (province code used in citizen ids, name)
PROVINCES = [("001", "Hà Nội"), ("079", "TP. Hồ Chí Minh"), ("031", "Hải Phòng"),
             ("048", "Đà Nẵng"), ("092", "Cần Thơ"), ("037", "Ninh Bình"),
             ("036", "Nam Định"), ("040", "Nghệ An")]
STREETS = ["Lê Lợi", "Trần Hưng Đạo", "Nguyễn Huệ", "Hai Bà Trưng", "Lý Thường Kiệt",
           "Phan Chu Trinh", "Điện Biên Phủ", "Quang Trung"]
ETHNICITIES = ["Kinh"] * 17 + ["Tày", "Thái", "Mường", "Khmer", "Hoa", "Nùng"]
TRADES = ["Thương mại", "Xây dựng", "Công nghệ", "Vận tải", "Nông sản", "Du lịch",
          "Dệt may", "Thực phẩm"]


def citizen_id(rng, prov, sex, year):
    century = 0 if year < 2000 else 2
    gender_digit = century + (1 if sex == "F" else 0)
    return f"{prov}{gender_digit}{year % 100:02d}{rng.randrange(10**6):06d}"


def write_population(path, n, rng):
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("citizen_id,full_name,birth_date,sex,province_code,province,"
                  "address,ethnicity\n")
        for i in range(n):
            prov, pname = PROVINCES[i % len(PROVINCES)]
            sex = "F" if rng.random() < 0.5 else "M"
            year = rng.randrange(1940, 2010)
            name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
            birth = f"{year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
            addr = f"\"{rng.randrange(1, 300)} {rng.choice(STREETS)}, {pname}\""
            # The first rows get fixed, documented ids used by the demo.
            cid = f"{prov}0{i:08d}" if i < 8 else citizen_id(rng, prov, sex, year)
            out.write(f"{cid},{name},{birth},{sex},{prov},{pname},{addr},"
                      f"{rng.choice(ETHNICITIES)}\n")


def write_business(path, n, rng):
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            prov, pname = PROVINCES[i % len(PROVINCES)]
            rec = {
                "enterprise_code": f"0{100000000 + i}",
                "name": f"Công ty TNHH {rng.choice(TRADES)} {rng.choice(GIVEN)} {i}",
                "province_code": prov,
                "province": pname,
                "registered_capital_vnd": str(rng.randrange(1, 500) * 100_000_000),
                "legal_representative": f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
                "status": rng.choice(["active"] * 8 + ["suspended", "dissolved"]),
            }
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--population", type=int, default=1000)
    ap.add_argument("--business", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=194)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    write_population(os.path.join(args.out, "population.csv"), args.population, rng)
    write_business(os.path.join(args.out, "business.jsonl"), args.business, rng)


if __name__ == "__main__":
    main()
