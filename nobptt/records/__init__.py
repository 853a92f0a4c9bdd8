"""Result records, schema 1 (docs/results.md): checks, reading and writing, building them from run
folders, provenance, tables, and the one-time migration of the older formats."""
from nobptt.records.io import add_records, load_all, load_file, write_file
from nobptt.records.schema import SCHEMA, UNITS, check_file, check_record

__all__ = ["SCHEMA", "UNITS", "add_records", "check_file", "check_record", "load_all", "load_file",
           "write_file"]
