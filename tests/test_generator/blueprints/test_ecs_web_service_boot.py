"""The instance boot script, run by bash against stub commands that record every call.

The only edits to the rendered script: /etc and /dev/disk/by-id point into a temporary folder, and the
block-device test `[ -b` becomes `[ -e` (a temporary file stands in for the NVMe device).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.blueprints import ecs_web_service as blueprint
from generator.blueprints.parts import ecs_web_service_boot as boot

VOLUME = "vol-0123456789abcdef0"
INSTANCE = "i-0aaaabbbbccccdddd"
PUBLIC_IP = "203.0.113.10"
UUID = "5e0c1a2b-0000-4000-8000-000000000001"

STUBS = {
    "aws": """echo "aws $*" >> "$CALLS"
if [ "$1 $2" = "ec2 describe-volumes" ]; then
  n=$(( $(cat "$STUB_STATE/describes" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$STUB_STATE/describes"
  if [ "$n" -ge "$AVAILABLE_AFTER" ]; then echo available; else echo in-use; fi
fi""",
    "curl": f"""echo "curl $*" >> "$CALLS"
case "$*" in
  *api/token*) echo tok ;;
  *meta-data/instance-id*) echo {INSTANCE} ;;
  *meta-data/public-ipv4*) echo {PUBLIC_IP} ;;
  *) exit 22 ;;
esac""",
    "blkid": f"""echo "blkid $*" >> "$CALLS"
if [ "$1" = -o ]; then echo {UUID}; exit 0; fi
exit "$BLKID_RC\"""",
    "mkfs": 'echo "mkfs $*" >> "$CALLS"',
    "mount": 'echo "mount $*" >> "$CALLS"',
    "mountpoint": 'echo "mountpoint $*" >> "$CALLS"; exit 1',
    "sleep": 'echo "sleep $*" >> "$CALLS"',
}


@dataclass(frozen=True)
class Run:
    returncode: int
    stderr: str
    calls: list[str]
    root: Path


def run_boot(tmp_path: Path, *, available_after: int = 1, blkid_rc: int = 2) -> Run:
    sub = blueprint.build_template(boot.SCRIPT).to_dict()
    script, _ = sub["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"][
        "Fn::Base64"
    ]["Fn::Sub"]
    values = {
        "Project": "webapp",
        "DataVolumeId": VOLUME,
        "DataMountPoint": str(tmp_path / "data"),
        "DataVolumeDevice": "/dev/xvdf",
        "AWS::Region": "eu-west-1",
        "AppPort": "8000",
        "RecordName": "app.example.com",
        "RecordTtl": "60",
        "HostedZoneId": "Z0123456789ABC",
        "Cluster": "webapp",
    }
    script = re.sub(r"\$\{([^!}][^}]*)\}", lambda m: values[m.group(1)], script)
    script = script.replace("/etc/", f"{tmp_path}/etc/").replace("/dev/disk/by-id/", f"{tmp_path}/dev/")
    script = script.replace("[ -b ", "[ -e ")
    (tmp_path / "etc" / "ecs").mkdir(parents=True)
    (tmp_path / "etc" / "fstab").write_text("")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / f"nvme-Amazon_Elastic_Block_Store_{VOLUME.replace('-', '')}").write_text("")
    (tmp_path / "state").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in STUBS.items():
        stub = bin_dir / name
        stub.write_text("#!/bin/bash\n" + body + "\n")
        stub.chmod(0o755)
    (tmp_path / "boot.sh").write_text(script)
    calls = tmp_path / "calls.log"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "STUB_STATE": str(tmp_path / "state"),
        "AVAILABLE_AFTER": str(available_after),
        "BLKID_RC": str(blkid_rc),
    }
    proc = subprocess.run(
        ["bash", str(tmp_path / "boot.sh")], env=env, capture_output=True, text=True, check=False
    )
    logged = calls.read_text().splitlines() if calls.exists() else []
    return Run(proc.returncode, proc.stderr, [c.replace(str(tmp_path), "<tmp>") for c in logged], tmp_path)


TOKEN = "curl -fsS -X PUT -H X-aws-ec2-metadata-token-ttl-seconds: 60 http://169.254.169.254/latest/api/token"
DEVICE = f"<tmp>/dev/nvme-Amazon_Elastic_Block_Store_{VOLUME.replace('-', '')}"
DESCRIBE = f"aws ec2 describe-volumes --volume-ids {VOLUME} --query Volumes[0].State --output text"
BATCH = (
    '{"Changes":[{"Action":"UPSERT","ResourceRecordSet":{"Name":"app.example.com","Type":"A","TTL":60,'
    f'"ResourceRecords":[{{"Value":"{PUBLIC_IP}"}}]}}}}]}}'
)


def test_new_volume_is_awaited_attached_formatted_mounted_then_dns_then_cluster(tmp_path: Path) -> None:
    run = run_boot(tmp_path, available_after=2, blkid_rc=2)
    assert run.returncode == 0, run.stderr
    assert run.calls == [
        TOKEN,
        "curl -fsS -H X-aws-ec2-metadata-token: tok http://169.254.169.254/latest/meta-data/instance-id",
        DESCRIBE,
        "sleep 10",
        DESCRIBE,
        f"aws ec2 attach-volume --volume-id {VOLUME} --instance-id {INSTANCE} --device /dev/xvdf",
        f"aws ec2 wait volume-in-use --volume-ids {VOLUME} --filters Name=attachment.status,Values=attached",
        f"blkid {DEVICE}",
        f"mkfs -t xfs {DEVICE}",
        "mountpoint -q <tmp>/data",
        f"mount {DEVICE} <tmp>/data",
        f"blkid -o value -s UUID {DEVICE}",
        TOKEN,
        "curl -fsS -H X-aws-ec2-metadata-token: tok http://169.254.169.254/latest/meta-data/public-ipv4",
        f"aws route53 change-resource-record-sets --hosted-zone-id Z0123456789ABC --change-batch {BATCH}",
    ]
    assert (
        tmp_path / "etc" / "fstab"
    ).read_text() == f"UUID={UUID} {tmp_path}/data auto defaults,nofail 0 2\n"
    assert (tmp_path / "etc" / "ecs" / "ecs.config").read_text() == "ECS_CLUSTER=webapp\n"
    nginx = (tmp_path / "data" / "nginx" / "conf.d" / "default.conf").read_text()
    assert "proxy_pass http://app:8000;" in nginx
    assert "proxy_set_header Host $host;" in nginx
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["mysql", "nginx", "static"]


def test_a_volume_with_a_filesystem_is_never_formatted(tmp_path: Path) -> None:
    run = run_boot(tmp_path, blkid_rc=0)
    assert run.returncode == 0, run.stderr
    assert not [c for c in run.calls if c.startswith("mkfs")]
    assert f"mount {DEVICE} <tmp>/data" in run.calls


def test_blkid_failing_otherwise_stops_the_boot_before_dns_and_cluster(tmp_path: Path) -> None:
    run = run_boot(tmp_path, blkid_rc=4)
    assert run.returncode == 4
    assert run.calls[-1] == f"blkid {DEVICE}"
    assert not (tmp_path / "etc" / "ecs" / "ecs.config").exists()


def test_a_volume_that_never_frees_up_stops_the_boot_saying_so(tmp_path: Path) -> None:
    run = run_boot(tmp_path, available_after=1000)
    assert run.returncode == 1
    assert run.stderr.strip().endswith(f"volume {VOLUME} is still in-use after 15 minutes")
    assert run.calls.count(DESCRIBE) == 90
    assert not [c for c in run.calls if "attach-volume" in c or "route53" in c]
    assert not (tmp_path / "etc" / "ecs" / "ecs.config").exists()


@pytest.mark.parametrize("rc", [0, 2])
def test_an_existing_nginx_config_is_left_alone(tmp_path: Path, rc: int) -> None:
    conf = tmp_path / "data" / "nginx" / "conf.d"
    conf.mkdir(parents=True)
    (conf / "site.conf").write_text("server { listen 443 ssl; }\n")
    run = run_boot(tmp_path, blkid_rc=rc)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in conf.iterdir()) == ["site.conf"]
