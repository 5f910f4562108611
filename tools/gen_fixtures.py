#!/usr/bin/env python3
"""Generates the admission-request fixtures of the policies and their expected verdicts.

Run from the repository root: python3 tools/gen_fixtures.py
Writes policies/<policy>/fixtures/<kind>_<operation>_<case>.json (plain AdmissionRequests, usable with
`custody eval --request` and `kwctl run`), policies/<policy>/fixtures/expected.json (settings and the
verdict each fixture must get) and policies/<policy>/fixtures/settings.json (the settings the host tests
that are not about settings evaluate the policy with). Everything here is written by hand for custody: no captured data.
"""
import hashlib
import json
import os

D256 = "sha256:" + "0123456789abcdef" * 4
D256B = "sha256:" + "fedcba9876543210" * 4
D512 = "sha512:" + "0123456789abcdef" * 8

KINDS = {
    # name: (group, version, kind, resource)
    "pod": ("", "v1", "Pod", "pods"),
    "deployment": ("apps", "v1", "Deployment", "deployments"),
    "replicaset": ("apps", "v1", "ReplicaSet", "replicasets"),
    "statefulset": ("apps", "v1", "StatefulSet", "statefulsets"),
    "daemonset": ("apps", "v1", "DaemonSet", "daemonsets"),
    "replicationcontroller": ("", "v1", "ReplicationController", "replicationcontrollers"),
    "job": ("batch", "v1", "Job", "jobs"),
    "cronjob": ("batch", "v1", "CronJob", "cronjobs"),
}

PREFIX = {
    "Pod": "spec",
    "CronJob": "spec.jobTemplate.spec.template.spec",
}


def prefix(kind):
    return PREFIX.get(kind, "spec.template.spec")


def pod_spec(containers, init=(), ephemeral=()):
    spec = {"containers": [{"name": n, "image": i} for n, i in containers]}
    if init:
        spec["initContainers"] = [{"name": n, "image": i} for n, i in init]
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": n, "image": i, "targetContainerName": containers[0][0]} for n, i in ephemeral]
    spec["restartPolicy"] = "Always"
    return spec


def wrap(kind, name, spec):
    meta = {"name": name, "namespace": "team-a", "labels": {"app": name}}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    template = {"metadata": {"labels": {"app": name}}, "spec": spec}
    group, version, _, _ = next(v for v in KINDS.values() if v[2] == kind)
    api = f"{group}/{version}" if group else version
    if kind == "CronJob":
        body = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        body = {"template": template}
    else:
        body = {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template}
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": body}


def request(kindname, obj, operation="CREATE", namespace="team-a", sub_resource=None, uid=None):
    group, version, kind, resource = KINDS[kindname] if kindname in KINDS else kindname
    req = {
        "uid": uid or "00000000-0000-4000-8000-" + hashlib.sha256(json.dumps([kindname, obj, operation]).encode()).hexdigest()[:12],
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": (obj or {}).get("metadata", {}).get("name", "x") if isinstance(obj, dict) else "x",
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
        "object": obj,
        "oldObject": None,
        "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    }
    if sub_resource:
        req["subResource"] = sub_resource
    return req


class Policy:
    def __init__(self, name):
        self.name = name
        self.dir = os.path.join("policies", name, "fixtures")
        self.cases = {}

    def add(self, file, req, accepted, settings=None, messages=None, patch=None, capabilities=None):
        assert file not in self.cases, file
        path = os.path.join(self.dir, file)
        os.makedirs(self.dir, exist_ok=True)
        with open(path, "w") as f:
            json.dump(req, f, indent=2)
            f.write("\n")
        case = {"settings": settings or {}, "accepted": accepted}
        if messages is not None:
            case["message_lines"] = messages
        if patch is not None:
            case["patch"] = patch
        if capabilities is not None:
            case["capabilities"] = capabilities
        self.cases[file] = case

    def write(self, settings=None):
        with open(os.path.join(self.dir, "expected.json"), "w") as f:
            json.dump(self.cases, f, indent=2, sort_keys=True)
            f.write("\n")
        with open(os.path.join(self.dir, "settings.json"), "w") as f:
            json.dump(settings or {}, f, indent=2, sort_keys=True)
            f.write("\n")


def line(kind_prefix, lst, idx, name, text):
    return f'container "{name}" ({kind_prefix}.{lst}[{idx}]): {text}'


def pod_with(*images, name="odd"):
    """A Pod whose containers c0, c1, ... run `images`."""
    return wrap("Pod", name, pod_spec([(f"c{i}", img) for i, img in enumerate(images)]))


def one(i, text):
    """The message line of `pod_with`'s container i."""
    return line("spec", "containers", i, f"c{i}", text)


def settings_with(base, **changes):
    """A deep copy of the settings `base` with top-level `changes`."""
    settings = json.loads(json.dumps(base))
    settings.update(changes)
    return settings


def unmatched(image):
    """The verifying policies' message for an image no `images` entry matches (the default)."""
    return f'image "{image}" matches no entry of `images` (unmatchedImages: deny)'


def main():
    rd = Policy("require-digest")
    bl = Policy("ban-latest")
    pinned_a = f"ghcr.io/acme/app@{D256}"
    pinned_b = f"registry.local:5000/tools/init:1.4@{D256B}"
    tagged = "ghcr.io/acme/app:1.2.3"
    latest = "nginx:latest"

    for kname, (group, version, kind, _) in KINDS.items():
        p = prefix(kind)
        # every list pinned: both allow
        obj = wrap(kind, "pinned", pod_spec([("app", pinned_a)], init=[("init", pinned_b)],
                                            ephemeral=[("debug", f"busybox@{D256}")] if kind == "Pod" else ()))
        for pol in (rd, bl):
            pol.add(f"{kname}_create_pinned.json", request(kname, obj), True, messages=[])
        # tagged app, latest init container, untagged ephemeral (pods only)
        ephem = [("debug", "busybox")] if kind == "Pod" else []
        obj = wrap(kind, "mixed", pod_spec([("app", tagged), ("side", pinned_a)],
                                           init=[("init", latest)], ephemeral=ephem))
        rd_lines = [
            line(p, "containers", 0, "app", f'image "{tagged}" is not pinned to a digest (write it as ghcr.io/acme/app@sha256:<64 hex>)'),
            line(p, "initContainers", 0, "init", 'image "nginx:latest" is not pinned to a digest (write it as docker.io/library/nginx@sha256:<64 hex>)'),
        ]
        bl_lines = [line(p, "initContainers", 0, "init", 'image "nginx:latest" uses the :latest tag; pin a version tag or a digest')]
        if ephem:
            rd_lines.append(line(p, "ephemeralContainers", 0, "debug", 'image "busybox" is not pinned to a digest (write it as docker.io/library/busybox@sha256:<64 hex>)'))
            bl_lines.append(line(p, "ephemeralContainers", 0, "debug", 'image "busybox" has no tag, which means :latest; pin a version tag or a digest'))
        rd.add(f"{kname}_create_mixed.json", request(kname, obj), False, messages=rd_lines)
        bl.add(f"{kname}_create_mixed.json", request(kname, obj), False, messages=bl_lines)
        # UPDATE operations are checked the same way
        upd = request(kname, obj, operation="UPDATE")
        upd["oldObject"] = wrap(kind, "mixed", pod_spec([("app", pinned_a)]))
        upd["options"]["kind"] = "UpdateOptions"
        rd.add(f"{kname}_update_mixed.json", upd, False, messages=rd_lines)
        bl.add(f"{kname}_update_mixed.json", upd, False, messages=bl_lines)

    # pods/ephemeralcontainers subresource (the object is the Pod)
    pod = wrap("Pod", "debugged", pod_spec([("app", pinned_a)], ephemeral=[("debugger", "busybox:latest")]))
    req = request("pod", pod, operation="UPDATE", sub_resource="ephemeralcontainers")
    rd.add("pod_update_ephemeralcontainers-subresource.json", req, False, messages=[
        line("spec", "ephemeralContainers", 0, "debugger", 'image "busybox:latest" is not pinned to a digest (write it as docker.io/library/busybox@sha256:<64 hex>)')])
    bl.add("pod_update_ephemeralcontainers-subresource.json", req, False, messages=[
        line("spec", "ephemeralContainers", 0, "debugger", 'image "busybox:latest" uses the :latest tag; pin a version tag or a digest')])
    # the legacy EphemeralContainers kind of that subresource (Kubernetes < 1.22)
    legacy = {"apiVersion": "v1", "kind": "EphemeralContainers", "metadata": {"name": "debugged", "namespace": "team-a"},
              "ephemeralContainers": [{"name": "debugger", "image": "busybox"}]}
    req = request(("", "v1", "EphemeralContainers", "pods"), legacy, operation="UPDATE", sub_resource="ephemeralcontainers")
    rd.add("ephemeralcontainers_update_legacy-kind.json", req, False, messages=[
        'container "debugger" (ephemeralContainers[0]): image "busybox" is not pinned to a digest (write it as docker.io/library/busybox@sha256:<64 hex>)'])
    bl.add("ephemeralcontainers_update_legacy-kind.json", req, False, messages=[
        'container "debugger" (ephemeralContainers[0]): image "busybox" has no tag, which means :latest; pin a version tag or a digest'])

    # registry ports: a port is not a tag
    obj = pod_with("registry.local:5000/team/app", "registry.local:5000/team/app:2.0", "localhost:5000/app")
    bl.add("pod_create_registry-port.json", request("pod", obj), False, messages=[
        one(0, 'image "registry.local:5000/team/app" has no tag, which means :latest; pin a version tag or a digest'),
        one(2, 'image "localhost:5000/app" has no tag, which means :latest; pin a version tag or a digest')])
    rd.add("pod_create_registry-port.json", request("pod", obj), False, messages=[
        one(0, 'image "registry.local:5000/team/app" is not pinned to a digest (write it as registry.local:5000/team/app@sha256:<64 hex>)'),
        one(1, 'image "registry.local:5000/team/app:2.0" is not pinned to a digest (write it as registry.local:5000/team/app@sha256:<64 hex>)'),
        one(2, 'image "localhost:5000/app" is not pinned to a digest (write it as localhost:5000/app@sha256:<64 hex>)')])
    # digest only, and tag + digest
    obj = pod_with(f"nginx@{D256}", f"nginx:latest@{D256}", f"[::1]:5000/app:v1@{D512}")
    bl.add("pod_create_digest-forms.json", request("pod", obj), True, messages=[])
    bl.add("pod_create_digest-forms-strict.json", request("pod", obj), False, settings={"strict": True}, messages=[
        one(1, f'image "nginx:latest@{D256}" uses the :latest tag; strict mode denies it even with a digest')])
    rd.add("pod_create_digest-forms.json", request("pod", obj), True, messages=[])
    rd.add("pod_create_digest-forms-sha256-only.json", request("pod", obj), False,
           settings={"allowedAlgorithms": ["sha256"]}, messages=[
               one(2, f'image "[::1]:5000/app:v1@{D512}" is pinned with sha512, but only sha256 is allowed')])
    # invalid references are violations, never skipped
    bad = ["Nginx:1.0", "nginx@sha256:abc", "nginx@sha256:" + "A" * 64, "nginx:" + "x" * 129, "evil.io/app:v1 @sha256:" + "a" * 64, ""]
    obj = pod_with(*bad)
    for pol in (rd, bl):
        pol.add("pod_create_invalid-references.json", request("pod", obj), False, messages=None)
    rd.cases["pod_create_invalid-references.json"]["message_prefixes"] = [one(i, f'image {json.dumps(b)} is not a valid image reference: ') for i, b in enumerate(bad)]
    bl.cases["pod_create_invalid-references.json"]["message_prefixes"] = rd.cases["pod_create_invalid-references.json"]["message_prefixes"]
    # a container without an image
    obj = wrap("Pod", "noimage", {"containers": [{"name": "app"}]})
    for pol in (rd, bl):
        pol.add("pod_create_missing-image.json", request("pod", obj), False, messages=[
            'container "app" (spec.containers[0]): has no image'])
    # banned tags
    obj = pod_with("ghcr.io/acme/app:dev", "ghcr.io/acme/app:main", "ghcr.io/acme/app:Dev", f"ghcr.io/acme/app:dev@{D256}")
    bl.add("pod_create_banned-tags.json", request("pod", obj), False, settings={"bannedTags": ["dev", "main"]}, messages=[
        one(0, 'image "ghcr.io/acme/app:dev" uses the banned tag :dev; pin a version tag or a digest'),
        one(1, 'image "ghcr.io/acme/app:main" uses the banned tag :main; pin a version tag or a digest')])
    # exemptions (common settings)
    obj = pod_with("nginx", "ghcr.io/acme/tools/debug:latest")
    for pol in (rd, bl):
        pol.add("pod_create_exempt-namespace.json", request("pod", obj, namespace="kube-system"), True,
                settings={"exemptNamespaces": ["kube-system"]}, messages=[])
        pol.add("pod_create_exempt-image.json", request("pod", obj), False,
                settings={"exemptImages": ["ghcr.io/acme/tools/*"]}, messages=None)
    rd.cases["pod_create_exempt-image.json"]["message_lines"] = [one(0, 'image "nginx" is not pinned to a digest (write it as docker.io/library/nginx@sha256:<64 hex>)')]
    bl.cases["pod_create_exempt-image.json"]["message_lines"] = [one(0, 'image "nginx" has no tag, which means :latest; pin a version tag or a digest')]
    # DELETE has no object
    req = request("deployment", None, operation="DELETE")
    req["oldObject"] = wrap("Deployment", "gone", pod_spec([("app", "nginx")]))
    for pol in (rd, bl):
        pol.add("deployment_delete_no-object.json", req, True, messages=[])
    # a kind custody does not understand is denied, not silently allowed
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "team-a"}, "data": {"image": "nginx"}}
    req = request(("", "v1", "ConfigMap", "configmaps"), cm)
    msg = ("kind core/ConfigMap is not a workload custody knows how to read; it checks Pod, Deployment, "
           "ReplicaSet, StatefulSet, DaemonSet, ReplicationController, Job and CronJob")
    for pol in (rd, bl):
        pol.add("configmap_create_unknown-kind.json", req, False, messages=[msg])
    # wrong types
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"}, "spec": {"template": {"spec": {"containers": [{"name": "app", "image": 42}]}}}}
    for pol in (rd, bl):
        pol.add("deployment_create_wrong-type.json", request("deployment", obj), False, messages=[
            "cannot read the admission request: request.object.spec.template.spec.containers[0].image: invalid type: integer `42`, expected a string"])

    # require-digest: pinning tags by mutation through oci/v1/manifest_digest
    obj = wrap("Deployment", "pinme", pod_spec([("app", "ghcr.io/acme/app:1.2.3"), ("side", "quay.io/other/side:1")],
                                                init=[("init", f"ghcr.io/acme/init@{D256}")]))
    caps = [{"namespace": "oci", "operation": "v1/manifest_digest", "request": "ghcr.io/acme/app:1.2.3", "response": {"digest": D256B}}]
    rd.add("deployment_create_pin-tags-mutates.json", request("deployment", wrap("Deployment", "pinme", pod_spec([("app", "ghcr.io/acme/app:1.2.3")], init=[("init", f"ghcr.io/acme/init@{D256}")]))), True,
           settings={"pinTags": ["ghcr.io/acme/*"]}, capabilities=caps, messages=[],
           patch=[{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": f"ghcr.io/acme/app:1.2.3@{D256B}"}])
    rd.add("deployment_create_pin-tags-other-registry.json", request("deployment", obj), False,
           settings={"pinTags": ["ghcr.io/acme/*"]}, capabilities=caps, messages=[
               line("spec.template.spec", "containers", 1, "side", 'image "quay.io/other/side:1" is not pinned to a digest (write it as quay.io/other/side@sha256:<64 hex>)')])
    rd.add("deployment_create_pin-tags-unresolvable.json", request("deployment", wrap("Deployment", "pinme", pod_spec([("app", "ghcr.io/acme/app:9.9")]))), False,
           settings={"pinTags": ["ghcr.io/acme/*"]}, capabilities=[
               {"namespace": "oci", "operation": "v1/manifest_digest", "request": "ghcr.io/acme/app:9.9", "error": "manifest unknown"}],
           messages=[line("spec.template.spec", "containers", 0, "app", 'image "ghcr.io/acme/app:9.9" is not pinned to a digest and its tag could not be resolved: manifest unknown')])

    # invalid settings reaching validate: the policy is misconfigured, so it fails closed
    obj = pod_with(f"nginx:1.25@{D256}")
    rd.add("pod_create_invalid-settings.json", request("pod", obj), False, settings={"allowedAlgorithms": ["md5"]}, messages=[
        'invalid settings: allowedAlgorithms[0]: unsupported digest algorithm "md5", expected sha256, sha384 or sha512'])
    bl.add("pod_create_invalid-settings.json", request("pod", obj), False, settings={"bannedTags": ["no good"]}, messages=[
        "invalid settings: bannedTags[0]: invalid tag \"no good\": character U+0020 at position 2 is not allowed (only letters, digits, '_', '.' and '-')"])

    rd.write()
    bl.write()
    verify_slsa()
    verify_signature()


# verify-slsa's test settings: one entry, for ghcr.io/acme/*, trusting slsa-github-generator's container
# workflow for acme/app's tags. Nothing here is attested (the real attestations are in shared/testdata,
# used by host-tests/tests/verify_slsa.rs), so these fixtures are about which images the policy looks at,
# where, and how it fails closed.
GENERATOR = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/"
VS_SETTINGS = {
    "images": [{
        "patterns": ["ghcr.io/acme/*"],
        "attestors": {"entries": [{"keyless": {
            "issuer": "https://token.actions.githubusercontent.com",
            "subjectPrefix": GENERATOR,
        }}]},
        "conditions": {
            "builderIdPrefix": GENERATOR,
            "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
            "sourceRepository": "https://github.com/acme/app",
            "sourceRefs": ["refs/tags/v*"],
        },
    }],
    "unmatchedImages": "deny",
}


def vs_settings(**changes):
    return settings_with(VS_SETTINGS, **changes)


def verify_slsa():
    vs = Policy("verify-slsa")
    allow_unmatched = vs_settings(unmatchedImages="allow")
    side = f"quay.io/other/app@{D256}"
    init = f"registry.local:5000/tools/init:1.4@{D256B}"
    tag = "ghcr.io/acme/app:1.2.3"
    for kname, (group, version, kind, _) in KINDS.items():
        p = prefix(kind)
        ephem = [("debug", f"busybox@{D256}")] if kind == "Pod" else []
        obj = wrap(kind, "elsewhere", pod_spec([("app", side)], init=[("init", init)], ephemeral=ephem))
        lines = [line(p, "containers", 0, "app", unmatched(side)), line(p, "initContainers", 0, "init", unmatched(init))]
        if ephem:
            lines.append(line(p, "ephemeralContainers", 0, "debug", unmatched(f"busybox@{D256}")))
        # images no entry matches: denied by default, allowed with unmatchedImages: allow
        vs.add(f"{kname}_create_unmatched.json", request(kname, obj), False, settings=vs_settings(), messages=lines)
        vs.add(f"{kname}_create_unmatched-allowed.json", request(kname, obj), True, settings=allow_unmatched, messages=[])
        # a tag the entry matches is resolved through the host; a tag that does not resolve is denied
        obj = wrap(kind, "tagged", pod_spec([("app", tag), ("side", side)], init=[("init", init)]))
        upd = request(kname, obj, operation="UPDATE")
        upd["oldObject"] = wrap(kind, "tagged", pod_spec([("app", side)]))
        upd["options"]["kind"] = "UpdateOptions"
        vs.add(f"{kname}_update_tag-unresolvable.json", upd, False, settings=allow_unmatched,
               capabilities=[{"namespace": "oci", "operation": "v1/manifest_digest", "request": tag, "error": "manifest unknown"}],
               messages=[line(p, "containers", 0, "app", f'image "{tag}" is not pinned to a digest and its tag could not be resolved: manifest unknown')])

    # exemptions (common settings)
    obj = pod_with("nginx", f"ghcr.io/acme/tools/debug@{D256}")
    vs.add("pod_create_exempt-namespace.json", request("pod", obj, namespace="kube-system"), True,
           settings=vs_settings(exemptNamespaces=["kube-system"]), messages=[])
    vs.add("pod_create_exempt-image.json", request("pod", obj), False,
           settings=vs_settings(exemptImages=["ghcr.io/acme/tools/*"]), messages=[one(0, unmatched("nginx"))])
    # invalid references are violations, never skipped
    bad = ["Nginx:1.0", "nginx@sha256:abc", "ghcr.io/acme/app:v1 @sha256:" + "a" * 64, ""]
    vs.add("pod_create_invalid-references.json", request("pod", pod_with(*bad)), False, settings=vs_settings(), messages=None)
    vs.cases["pod_create_invalid-references.json"]["message_prefixes"] = [one(i, f'image {json.dumps(b)} is not a valid image reference: ') for i, b in enumerate(bad)]
    # a container without an image
    obj = wrap("Pod", "noimage", {"containers": [{"name": "app"}]})
    vs.add("pod_create_missing-image.json", request("pod", obj), False, settings=vs_settings(), messages=[
        'container "app" (spec.containers[0]): has no image'])
    # a digest that is not sha256 cannot be attested
    image = f"ghcr.io/acme/app@{D512}"
    vs.add("pod_create_sha512-digest.json", request("pod", pod_with(image)), False, settings=vs_settings(), messages=[
        one(0, f'image "{image}": attestations name sha256 digests, and the image is {D512}')])
    # the legacy EphemeralContainers kind of the pods/ephemeralcontainers subresource
    legacy = {"apiVersion": "v1", "kind": "EphemeralContainers", "metadata": {"name": "debugged", "namespace": "team-a"},
              "ephemeralContainers": [{"name": "debugger", "image": "busybox"}]}
    req = request(("", "v1", "EphemeralContainers", "pods"), legacy, operation="UPDATE", sub_resource="ephemeralcontainers")
    vs.add("ephemeralcontainers_update_legacy-kind.json", req, False, settings=vs_settings(), messages=[
        'container "debugger" (ephemeralContainers[0]): ' + unmatched("busybox")])
    # DELETE has no object
    req = request("deployment", None, operation="DELETE")
    req["oldObject"] = wrap("Deployment", "gone", pod_spec([("app", "nginx")]))
    vs.add("deployment_delete_no-object.json", req, True, settings=vs_settings(), messages=[])
    # a kind custody does not understand is denied, not silently allowed
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "team-a"}, "data": {"image": "nginx"}}
    vs.add("configmap_create_unknown-kind.json", request(("", "v1", "ConfigMap", "configmaps"), cm), False, settings=vs_settings(), messages=[
        "kind core/ConfigMap is not a workload custody knows how to read; it checks Pod, Deployment, "
        "ReplicaSet, StatefulSet, DaemonSet, ReplicationController, Job and CronJob"])
    # invalid settings reaching validate: the policy is misconfigured, so it fails closed
    obj = pod_with(f"ghcr.io/acme/app@{D256}")
    vs.add("pod_create_invalid-settings.json", request("pod", obj), False, settings=vs_settings(unmatchedImages="maybe"), messages=None)
    vs.cases["pod_create_invalid-settings.json"]["message_prefixes"] = ["invalid settings: unmatchedImages: unknown variant `maybe`"]
    vs.write(VS_SETTINGS)


# verify-signature's test settings: ghcr.io/acme/* must be signed with one public key, verified in the
# module from the signatures exported into the cluster (`source: cluster`, the same in both builds).
# Nothing here is signed (real signatures are made and verified in host-tests/tests/verify_signature.rs),
# so these fixtures are about which images the policy looks at, how it asks the host, and how it fails
# closed. The key is a throwaway P-256 key written for these fixtures.
VSIG_KEY = ("-----BEGIN PUBLIC KEY-----\n"
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE60I39eN4BmPl7xG9LS+sE4PdfSdF\n"
            "DUTkdO34st3FIG3WN3SCfdt7/UzyOzdKkLcal2hw5W7YOSU8E7BzK7cRgA==\n"
            "-----END PUBLIC KEY-----\n")
VSIG_SETTINGS = {
    "images": [{
        "patterns": ["ghcr.io/acme/*"],
        "source": "cluster",
        "attestors": {"entries": [{"publicKey": VSIG_KEY}]},
    }],
    "unmatchedImages": "deny",
}


def vsig_settings(**changes):
    return settings_with(VSIG_SETTINGS, **changes)


def verify_signature():
    vg = Policy("verify-signature")
    allow_unmatched = vsig_settings(unmatchedImages="allow")
    side = f"quay.io/other/app@{D256}"
    init = f"registry.local:5000/tools/init:1.4@{D256B}"
    tag = "ghcr.io/acme/app:1.2.3"
    for kname, (group, version, kind, _) in KINDS.items():
        p = prefix(kind)
        obj = wrap(kind, "elsewhere", pod_spec([("app", side)], init=[("init", init)]))
        lines = [line(p, "containers", 0, "app", unmatched(side)), line(p, "initContainers", 0, "init", unmatched(init))]
        vg.add(f"{kname}_create_unmatched.json", request(kname, obj), False, settings=vsig_settings(), messages=lines)
        vg.add(f"{kname}_create_unmatched-allowed.json", request(kname, obj), True, settings=allow_unmatched, messages=[])
        # a tag is resolved through the host; one that does not resolve is denied
        obj = wrap(kind, "tagged", pod_spec([("app", tag), ("side", side)], init=[("init", init)]))
        vg.add(f"{kname}_create_tag-unresolvable.json", request(kname, obj), False, settings=allow_unmatched,
               capabilities=[{"namespace": "oci", "operation": "v1/manifest_digest", "request": tag, "error": "manifest unknown"}],
               messages=[line(p, "containers", 0, "app", f'image "{tag}" is not pinned to a digest and its tag could not be resolved: manifest unknown')])

    # exemptions (common settings)
    obj = pod_with("nginx", f"ghcr.io/acme/tools/debug@{D256}")
    vg.add("pod_create_exempt-namespace.json", request("pod", obj, namespace="kube-system"), True,
           settings=vsig_settings(exemptNamespaces=["kube-system"]), messages=[])
    vg.add("pod_create_exempt-image.json", request("pod", obj), False,
           settings=vsig_settings(exemptImages=["ghcr.io/acme/tools/*"]), messages=[one(0, unmatched("nginx"))])
    # invalid references are violations, never skipped
    bad = ["Nginx:1.0", "nginx@sha256:abc", ""]
    vg.add("pod_create_invalid-references.json", request("pod", pod_with(*bad)), False, settings=vsig_settings(), messages=None)
    vg.cases["pod_create_invalid-references.json"]["message_prefixes"] = [one(i, f'image {json.dumps(b)} is not a valid image reference: ') for i, b in enumerate(bad)]
    # a digest that is not sha256 cannot be verified
    image = f"ghcr.io/acme/app@{D512}"
    vg.add("pod_create_sha512-digest.json", request("pod", pod_with(image)), False, settings=vsig_settings(), messages=[
        one(0, f'image "{image}" ({D512}): signatures name sha256 digests')])
    # DELETE has no object
    req = request("deployment", None, operation="DELETE")
    req["oldObject"] = wrap("Deployment", "gone", pod_spec([("app", "nginx")]))
    vg.add("deployment_delete_no-object.json", req, True, settings=vsig_settings(), messages=[])
    # invalid settings reaching validate: the policy is misconfigured, so it fails closed
    obj = pod_with(f"ghcr.io/acme/app@{D256}")
    vg.add("pod_create_invalid-settings.json", request("pod", obj), False,
           settings=vsig_settings(images=[{"patterns": ["*"], "attestors": {"entries": [{"publicKey": VSIG_KEY, "keyless": {"issuer": "https://a.example", "subject": "me"}}]}}]), messages=None)
    vg.cases["pod_create_invalid-settings.json"]["message_prefixes"] = ["invalid settings: images[0].attestors.entries[0]: an attestor is exactly one of"]

    # source: host (the default of the waPC build): one oci/v2/verify call per attestor, the
    # digest the host verified pinned. The Gatekeeper build has no host: the tag is denied there.
    host_settings = {"images": [{"patterns": ["ghcr.io/acme/*"], "attestors": {"entries": [
        {"publicKey": VSIG_KEY, "requireRekorBundle": False}]}}]}
    verify = {"type": "SigstorePubKeyVerify", "image": "ghcr.io/acme/app:1.2.3", "pub_keys": [VSIG_KEY], "annotations": None}
    obj = wrap("Deployment", "signed", pod_spec([("app", tag)]))
    vg.add("deployment_create_host-verified-pins.json", request("deployment", obj), True, settings=host_settings,
           capabilities=[{"namespace": "oci", "operation": "v2/verify", "request": verify,
                          "response": {"is_trusted": True, "digest": D256B}}],
           messages=[], patch=[{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": f"{tag}@{D256B}"}])
    vg.add("deployment_create_host-refused.json", request("deployment", obj), False, settings=host_settings,
           capabilities=[{"namespace": "oci", "operation": "v2/verify", "request": verify, "error": "no signatures found"}],
           messages=[line("spec.template.spec", "containers", 0, "app",
                          f'image "{tag}": no valid signature (verified by the host); public key sha256:')])
    vg.cases["deployment_create_host-refused.json"]["message_prefixes"] = vg.cases["deployment_create_host-refused.json"].pop("message_lines")
    vg.write(VSIG_SETTINGS)


if __name__ == "__main__":
    main()
