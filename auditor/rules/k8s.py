"""Kubernetes: a NetworkPolicy whose ingress rule lets the CIDRs in (``ipBlock``, both
families) on the service's ports, for ``kubectl apply -n NAMESPACE -f FILE``.

- NetworkPolicies add up (what any of them allows is allowed) and have no order, so the policy
  takes effect as it is. But a pod that no policy selected accepted everything; once this one
  selects it, the pod accepts only what the policies allow. ``podSelector`` selects the pods
  labelled ``app: CHAIN`` with ``--chain``, else every pod of the namespace: check which pods
  other policies select already.
- The policy is its own object (``auditor-tcp25``): applying it again changes nothing, and
  ``kubectl delete`` rolls it back without touching any other policy.
- No ``--prune``: the extra addresses are let in by the admin's own policies, whose other
  fields (pod selector, ports, other peers) are not read here, and an ``ipBlock`` list has no
  per-entry removal (``kubectl patch`` takes whole lists or list indexes). A policy written
  without the extras would replace one this tool cannot see whole; the prune is left out.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from auditor.model import MissingBlock
from auditor.rules import objects, sanitize
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions

LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?")
"""A label value: at most 63 characters [Kubernetes, labels and selectors]."""


class K8sGenerator(Generator):
    name = "k8s"
    description = "a Kubernetes NetworkPolicy: ingress from ipBlock CIDRs on the service's ports"
    families = (4, 6)
    max_name_len = 63

    def check_options(self, options: RuleOptions) -> None:
        objects.check_names(
            self.name,
            options,
            LABEL,
            "letters, digits, '_', '.' and '-', starting and ending with a letter or digit"
            " (a label value)",
            self.max_name_len,
        )

    def policy_name(self, options: RuleOptions) -> str:
        return objects.default_name(options.service)

    def document(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[str]:
        service = options.service
        app = objects.chain_given(options)
        selector = (
            f'podSelector:\n    matchLabels:\n      app: "{app}"' if app else "podSelector: {}"
        )
        lines = [
            "apiVersion: networking.k8s.io/v1",
            "kind: NetworkPolicy",
            "metadata:",
            f"  name: {self.policy_name(options)}",
            "  labels:",
            "    app.kubernetes.io/managed-by: allowlist-auditor",
            "spec:",
            f"  {selector}",
            "  policyTypes:",
            "  - Ingress",
            "  ingress:",
            "  - from:",
        ]
        for block in sanitize.sorted_blocks(blocks):
            note = self.origins_comment(block.origins, prefix="")
            if note:
                lines.append(f"    # {note}")
            lines += ["    - ipBlock:", f"        cidr: {sanitize.cidr(block)}"]
        if service.protocol != "any" and service.ports:
            lines.append("    ports:")
            for lo, hi in service.ports:
                lines += [f"    - protocol: {service.protocol.upper()}", f"      port: {lo}"]
                if hi != lo:
                    lines.append(f"      endPort: {hi}")
        elif service.protocol != "any":
            lines += ["    ports:", f"    - protocol: {service.protocol.upper()}"]
        return lines

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        if not blocks:
            return []
        name = self.policy_name(options)
        check = "kubectl apply --dry-run=server -n NAMESPACE -f FILE"
        body = "\n".join(self.document(blocks, options)) + "\n"
        count = len(blocks)
        back = (
            'namespace="${1:?usage: $0 NAMESPACE}"\n'
            f'kubectl delete networkpolicy {shlex.quote(name)} -n "$namespace" --ignore-not-found\n'
        )
        return [
            Artifact(
                "apply",
                None,
                body,
                "yaml",
                "kubectl apply -n NAMESPACE -f FILE",
                check,
                cidrs=count,
            ),
            Artifact(
                "rollback", None, back, "sh", "sh FILE NAMESPACE", "", script=True, cidrs=count
            ),
        ]
