"""The anchor for the tables benchmark: DuckDB computing the `dangan` counts with SQL from the same
households.csv the node imported. Prints the load time and the query time separately.

    python3 bench/duckdb_dangan.py households.csv AS_OF
"""
import sys
import time

import duckdb

path, as_of = sys.argv[1], sys.argv[2]
con = duckdb.connect()
t0 = time.perf_counter()
con.execute(f"CREATE TABLE h AS SELECT * FROM read_csv('{path}', header=true, all_varchar=true)")
load = time.perf_counter() - t0

dims = {"category": "困难类别", "industry": "所属行业", "unit_nature": "单位性质", "enterprise_status": "企业状况",
        "health": "健康状况", "housing_type": "住房类型", "work_status": "身份", "model_worker": "劳模类别"}
archive = f"""(coalesce("建档日期", '') = '' OR "建档日期" <= '{as_of}')
  AND ("档案状态" = '在档' OR ("档案状态" = '已脱困' AND "脱困日期" > '{as_of}'))"""
queries = [f"SELECT count(*) FROM h WHERE {archive}"]
for col in dims.values():
    queries.append(f'SELECT "{col}", count(*) FROM h WHERE {archive} GROUP BY 1')
causes = f"""SELECT "困难类别" AS cat, unnest(string_split(replace("致困主要原因", ';', '、'), '、')) AS cause
             FROM h WHERE {archive}"""
queries.append(f"SELECT cause, count(*) FROM ({causes}) GROUP BY 1")
queries.append(f"SELECT cat, cause, count(*) FROM ({causes}) GROUP BY 1, 2")

t0 = time.perf_counter()
total = 0
for q in queries:
    total += len(con.execute(q).fetchall())
query = time.perf_counter() - t0
print(f"duckdb {duckdb.__version__}: load CSV {load:.3f} s; dangan counts ({len(queries)} queries, {total} rows) {query:.3f} s")
