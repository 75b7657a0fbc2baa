/* The "incidents" source adapter (incident intake, context sources, webhooks). */
#ifndef T0_INCIDENTS_ADAPTER_H
#define T0_INCIDENTS_ADAPTER_H

#include "bot/adapter.h"

extern const struct adapter_ops incidents_ops;

#endif
