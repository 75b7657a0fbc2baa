/*
 * The LLM adapter: configured when llm.provider is set. Its init registers
 * the providers (Anthropic, OpenAI-compatible) with bot/llm.h and attaches
 * the agent (bot/agent.h) as the router's fallback for requests no rule
 * understood; free detaches it.
 */
#ifndef T0_ADAPTERS_LLM_H
#define T0_ADAPTERS_LLM_H

#include "bot/adapter.h"

extern const struct adapter_ops llm_ops;

#endif
