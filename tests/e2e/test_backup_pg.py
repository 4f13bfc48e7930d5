"""formd backup and formd restore on PostgreSQL (pg_dump / pg_restore).

Submissions written, a backup taken while the server runs, more written; a
restore is refused while a formd process is connected, then, with the server
stopped, puts the database back exactly at the backup's point: the first
submissions, none of the later ones, analytics rebuilt to match. A backup
never replaces a file unless told to and leaves nothing half-written; a bad
archive is refused before anything changes. Runs only with FORMD_TEST_PG_URL.
"""
import os

import pytest

from conftest import PG_URL, Client, Server, make_form, make_project, publish

pytestmark = pytest.mark.skipif(not PG_URL, reason="pg_dump backups need FORMD_TEST_PG_URL")


def submit(client, slug, n, tag):
    ids = set()
    for i in range(n):
        r = client.post(f"/v1/public/forms/{slug}/submissions",
                        {"data": {"email": f"{tag}{i}@example.org", "age": 20 + i % 60}})
        assert r.status_code == 201, r.text
        ids.add(r.json()["id"])
    return ids


def stored(server, fid):
    return {row[0] for row in server.sql(f"SELECT id FROM submissions WHERE form_id = '{fid}'")}


def test_backup_write_more_restore_is_the_backup_point(tmp_path):
    s = Server(str(tmp_path / "data")).start()
    dump = str(tmp_path / "formd.dump")
    try:
        admin = Client(s, s.admin_key)
        pid = make_project(admin, "Backed up")
        f = make_form(admin, pid, slug="bk")
        publish(admin, f["id"])
        before = submit(admin, "bk", 25, "before")
        r = s.cli("backup", "--out", dump)
        assert "schema version" in r.stderr, r.stderr
        assert os.path.getsize(dump) > 0
        assert [n for n in os.listdir(tmp_path) if ".tmp" in n] == []
        after = submit(admin, "bk", 10, "after")
        assert stored(s, f["id"]) == before | after

        # Not over a running formd, and the database is left alone.
        r = s.cli("restore", "--from", dump, check=False)
        assert r.returncode != 0 and "stop every formd serve" in r.stderr, r.stderr
        assert stored(s, f["id"]) == before | after
    finally:
        s.stop()

    r = s.cli("restore", "--from", dump)
    assert "restored" in r.stderr, r.stderr
    assert stored(s, f["id"]) == before
    s.start()
    try:
        admin = Client(s, s.admin_key)
        page = admin.get(f"/v1/forms/{f['id']}/analytics?fresh=true")
        assert page.status_code == 200, page.text
        assert page.json()["total"] == len(before)
        # It serves and takes writes again.
        more = submit(admin, "bk", 3, "again")
        assert stored(s, f["id"]) == before | more
    finally:
        s.stop()


def test_backup_refuses_to_clobber_and_restore_refuses_bad_archives(tmp_path):
    s = Server(str(tmp_path / "data")).start()
    try:
        admin = Client(s, s.admin_key)
        pid = make_project(admin, "Kept")
        f = make_form(admin, pid, slug="kept")
        publish(admin, f["id"])
        ids = submit(admin, "kept", 5, "k")
        out = str(tmp_path / "taken.dump")
        with open(out, "w") as fh:
            fh.write("precious")
        r = s.cli("backup", "--out", out, check=False)
        assert r.returncode != 0 and "exists" in r.stderr, r.stderr
        assert open(out).read() == "precious"
        s.cli("backup", "--out", out, "--force")
        assert open(out, "rb").read(5) == b"PGDMP"
        r = s.cli("backup", "--out", str(tmp_path / "no-such-dir" / "x.dump"), check=False)
        assert r.returncode != 0
        assert not os.path.exists(tmp_path / "no-such-dir")
    finally:
        s.stop()
    bad = str(tmp_path / "bad.dump")
    with open(bad, "w") as fh:
        fh.write("not an archive")
    r = s.cli("restore", "--from", bad, check=False)
    assert r.returncode != 0 and "not a pg_dump archive" in r.stderr, r.stderr
    assert stored(s, f["id"]) == ids
