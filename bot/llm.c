/* The registry of language-model providers and the neutral turn's lifetime. */
#include "bot/llm.h"

#include <stdlib.h>
#include <string.h>

#include "bot/t0.h"

#define LLM_MAX_PROVIDERS 8

static const struct t0_llm *providers[LLM_MAX_PROVIDERS];
static size_t nproviders;

int llm_register(const struct t0_llm *llm)
{
	if (!llm || !llm->name)
		return T0_EINVAL;
	for (size_t i = 0; i < nproviders; i++) {
		if (strcmp(providers[i]->name, llm->name) == 0) {
			providers[i] = llm; /* re-registering replaces */
			return T0_OK;
		}
	}
	if (nproviders >= LLM_MAX_PROVIDERS)
		return T0_ETOOBIG;
	providers[nproviders++] = llm;
	return T0_OK;
}

void llm_unregister_all(void)
{
	nproviders = 0;
}

const struct t0_llm *llm_find(const char *name)
{
	for (size_t i = 0; name && i < nproviders; i++)
		if (strcmp(providers[i]->name, name) == 0)
			return providers[i];
	return NULL;
}

void llm_turn_free(struct llm_turn *t)
{
	if (!t)
		return;
	free(t->text);
	for (size_t i = 0; i < t->ncalls; i++) {
		free(t->calls[i].id);
		free(t->calls[i].name);
		json_decref(t->calls[i].args);
		free(t->calls[i].args_error);
	}
	free(t->calls);
	json_decref(t->assistant);
	free(t);
}
