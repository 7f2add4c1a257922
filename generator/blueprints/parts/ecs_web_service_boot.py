"""The ecs-web-service blueprint's instance boot script, a bash script with Fn::Sub references to the
template's parameters (and ${Cluster}); kept apart from the blueprint so it reads as the script it is."""

SCRIPT = r"""#!/bin/bash
# Boot of a ${Project} container instance: wait for the persistent volume, attach and mount it, point the
# DNS record at this instance, then join the ECS cluster last, so no task starts before its data is there.
set -euo pipefail

VOLUME_ID=${DataVolumeId}
MOUNT_POINT=${DataMountPoint}
export AWS_DEFAULT_REGION=${AWS::Region}

imds() {
  # IMDSv2 only (HttpTokens required); a fresh token per call, so a long volume wait cannot outlive it.
  local token
  token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)
  curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}
INSTANCE_ID=$(imds instance-id)
command -v aws >/dev/null || dnf install -y -q awscli-2

# 1. Wait for the volume: it stays attached to the instance this one replaces until that one is gone.
state=unknown
for _ in $(seq 1 90); do
  state=$(aws ec2 describe-volumes --volume-ids "$VOLUME_ID" --query 'Volumes[0].State' --output text) ||
    state=unreadable
  if [ "$state" = available ]; then break; fi
  sleep 10
done
if [ "$state" != available ]; then echo "volume $VOLUME_ID is still $state after 15 minutes" >&2; exit 1; fi

# 2. Attach it. Nitro instances show EBS as NVMe, linked by volume id without its hyphen:
# https://docs.aws.amazon.com/ebs/latest/userguide/identify-nvme-ebs-device.html
aws ec2 attach-volume --volume-id "$VOLUME_ID" --instance-id "$INSTANCE_ID" --device ${DataVolumeDevice}
aws ec2 wait volume-in-use --volume-ids "$VOLUME_ID" --filters Name=attachment.status,Values=attached
nvme=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$(echo "$VOLUME_ID" | sed 's/-//')
device=
for _ in $(seq 1 60); do
  for candidate in "$nvme" ${DataVolumeDevice}; do
    if [ -b "$candidate" ]; then device=$candidate; fi
  done
  if [ -n "$device" ]; then break; fi
  sleep 2
done
if [ -z "$device" ]; then echo "volume $VOLUME_ID is attached but no block device appeared" >&2; exit 1; fi

# 3. Mount it, and again after a reboot. blkid exits 2 only when the device has no filesystem at all
# (a brand-new volume): only then is it formatted; any other failure stops the boot.
rc=0
blkid "$device" >/dev/null || rc=$?
if [ "$rc" -eq 2 ]; then mkfs -t xfs "$device"; elif [ "$rc" -ne 0 ]; then exit "$rc"; fi
mkdir -p "$MOUNT_POINT"
mountpoint -q "$MOUNT_POINT" || mount "$device" "$MOUNT_POINT"
uuid=$(blkid -o value -s UUID "$device")
grep -q "UUID=$uuid" /etc/fstab || echo "UUID=$uuid $MOUNT_POINT auto defaults,nofail 0 2" >> /etc/fstab
mkdir -p "$MOUNT_POINT/mysql" "$MOUNT_POINT/static" "$MOUNT_POINT/nginx/conf.d" "$MOUNT_POINT/nginx/certs"
if [ -z "$(ls -A "$MOUNT_POINT/nginx/conf.d")" ]; then
  # First boot: plain HTTP to the app; put certificates in nginx/certs and a 443 server block beside this.
  cat > "$MOUNT_POINT/nginx/conf.d/default.conf" <<'EOF'
server {
    listen 80 default_server;
    location /static/ { alias /srv/static/; }
    location / {
        proxy_pass http://app:${AppPort};
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}
EOF
fi

# 4. Point the DNS record at this instance's public address.
public_ip=$(imds public-ipv4)
printf -v batch '{"Changes":[{"Action":"UPSERT","ResourceRecordSet":{"Name":"%s","Type":"A","TTL":%s,"ResourceRecords":[{"Value":"%s"}]}}]}' \
  "${RecordName}" "${RecordTtl}" "$public_ip"
aws route53 change-resource-record-sets --hosted-zone-id "${HostedZoneId}" --change-batch "$batch"

# 5. Join the cluster. The ECS agent's unit starts After=cloud-final.service, that is after this script:
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bootstrap_container_instance.html
echo "ECS_CLUSTER=${Cluster}" >> /etc/ecs/ecs.config
"""
