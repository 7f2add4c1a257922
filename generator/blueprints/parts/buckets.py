"""S3 buckets only the stack's own roles use: a private encrypted bucket, a pipeline artifact bucket and
access to its objects.
"""

from __future__ import annotations

from typing import Any

import awacs.s3 as s3_actions
from awacs.aws import Allow, PolicyDocument, Statement
from troposphere import GetAtt, Ref, Sub, Template, kms, s3

from generator.blueprints.parts.iam import deny_insecure_transport
from generator.blueprints.parts.metadata import checkov_skips


def private_bucket(title: str, key: kms.Key, expiry: s3.LifecycleRule, no_access_logs: str) -> s3.Bucket:
    """A bucket only the stack's own roles use: SSE-KMS with `key` (and a bucket key), versioned, no public
    access or ACLs, retained on stack deletion, expiring objects by the `expiry` rule. It has no server
    access logs, for the reason `no_access_logs` gives (the checkov skip)."""
    return s3.Bucket(
        title,
        BucketEncryption=s3.BucketEncryption(
            ServerSideEncryptionConfiguration=[
                s3.ServerSideEncryptionRule(
                    BucketKeyEnabled=True,
                    ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                        SSEAlgorithm="aws:kms", KMSMasterKeyID=GetAtt(key, "Arn")
                    ),
                )
            ]
        ),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True,
            BlockPublicPolicy=True,
            IgnorePublicAcls=True,
            RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3.OwnershipControls(
            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
        ),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[expiry]),
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
        Metadata=checkov_skips(("CKV_AWS_18", no_access_logs)),
    )


def artifact_bucket(t: Template, title: str, key: kms.Key, retention_days: Any) -> s3.Bucket:
    """A pipeline artifact bucket: a `private_bucket` whose artifacts expire, TLS only."""
    bucket = t.add_resource(
        private_bucket(
            title,
            key,
            s3.LifecycleRule(
                Id="ExpireArtifacts",
                Status="Enabled",
                ExpirationInDays=retention_days,
                NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1),
                AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
            ),
            "holds only short-lived pipeline artifacts written and read by the pipeline's own roles; "
            "server access logs would need a second bucket that itself goes unlogged",
        )
    )
    t.add_resource(
        s3.BucketPolicy(
            f"{title}Policy",
            Bucket=Ref(bucket),
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    deny_insecure_transport(
                        [s3_actions.Action("*")], [GetAtt(bucket, "Arn"), Sub(f"${{{title}.Arn}}/*")]
                    )
                ],
            ),
        )
    )
    return bucket


def artifact_objects(bucket: s3.Bucket, *, write: bool, sid: str = "Artifacts") -> Statement:
    """Read the objects (any version) of a pipeline artifact bucket, and with `write` put new ones."""
    actions = [s3_actions.GetObject, s3_actions.GetObjectVersion]
    return Statement(
        Sid=sid,
        Effect=Allow,
        Action=[*actions, s3_actions.PutObject] if write else actions,
        Resource=[Sub(f"${{{bucket.title}.Arn}}/*")],
    )
