"""Capability policy: profiles, the 5-layer evaluation, prompt decisions, explanations."""

from pi_sandbox.policy.engine import ALLOW, DENY, PROMPT, CompiledPolicy, PolicyDecision, evaluate_capability
from pi_sandbox.policy.explain import capability_decisions, explain_policy
from pi_sandbox.policy.profiles import PROFILE_SPECS, ProfileSpec
from pi_sandbox.policy.prompts import (
    UNASKED,
    PermissionStore,
    PromptAnswer,
    Prompter,
    PromptRequest,
    PromptResolution,
    PromptResolver,
    StoredDecision,
)

__all__ = [
    "ALLOW", "DENY", "PROMPT", "PROFILE_SPECS", "CompiledPolicy", "PermissionStore", "PolicyDecision",
    "ProfileSpec", "PromptAnswer", "PromptRequest", "PromptResolution", "PromptResolver", "Prompter",
    "StoredDecision", "UNASKED", "capability_decisions", "evaluate_capability", "explain_policy",
]
