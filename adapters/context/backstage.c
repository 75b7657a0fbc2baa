/*
 * Backstage catalog client. One resolve is a small chain of requests on the
 * curl multi: find the component (annotation query, by-name, name query),
 * then its owner group, then the group's members; each step's entities are
 * cached and put into the catalog model as they arrive.
 */
#include "adapters/context/backstage.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/http_client.h"
#include "bot/incident.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "bot/urlenc.h"

#define BS_URL 2048
#define BS_MAX_RESPONSE (8u * 1024 * 1024)
#define BS_MAX_MEMBERS 100
#define BS_DEFAULT_TIMEOUT_MS 5000

struct bs_entry {
	char *key;       /* "ref:<canonical ref>", "name:<name>", "pd:<service id>" */
	char *ref;       /* resolved ref (NULL: known not to exist) */
	json_t *doc;     /* for "ref:" keys */
	int64_t fetched_ms;
	struct bs_entry *next;
};

struct bs_op;

struct backstage {
	struct bot *b;
	struct t0_loop *loop;
	char *base;      /* ".../api/catalog" */
	char auth[1100]; /* "Authorization: Bearer ..." or "" */
	struct bs_entry *cache;
	size_t ncache;
	struct bs_op *ops;
	int closing, handles, free_pending;
};

enum bs_step { ST_BY_PD = 1, ST_BY_NAME, ST_BY_NAME_QUERY, ST_OWNER, ST_MEMBERS, ST_DONE };

struct bs_op {
	struct backstage *bs;
	char *service, *pd_sid;
	char *entity_ref, *entity_name;
	int step;
	uint64_t deadline_ns;
	backstage_cb cb;
	void *arg;
	struct http_call *call;
	uv_timer_t timer;
	int timer_init, done, rc;
	struct bs_op *prev, *next;
};

static char *dup_opt(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- cache ---- */

static struct bs_entry *cache_get(struct backstage *bs, const char *key)
{
	for (struct bs_entry *e = bs->cache; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static int fresh(const struct bs_entry *e)
{
	int64_t ttl = e->ref ? BACKSTAGE_TTL_MS : BACKSTAGE_NEGATIVE_TTL_MS;

	return t0_now_ms() - e->fetched_ms < ttl;
}

static void entry_free(struct bs_entry *e)
{
	free(e->key);
	free(e->ref);
	json_decref(e->doc);
	free(e);
}

static void cache_put(struct backstage *bs, const char *key, const char *ref, const json_t *doc)
{
	struct bs_entry *e = cache_get(bs, key);

	if (!e) {
		if (bs->ncache >= BACKSTAGE_MAX_CACHE) {
			/* Full: drop the oldest (the list's tail) to stay bounded. */
			struct bs_entry **pp = &bs->cache;

			while (*pp && (*pp)->next)
				pp = &(*pp)->next;
			if (*pp) {
				entry_free(*pp);
				*pp = NULL;
				bs->ncache--;
			}
		}
		e = calloc(1, sizeof(*e));
		if (!e || !(e->key = strdup(key))) {
			free(e);
			return;
		}
		e->next = bs->cache;
		bs->cache = e;
		bs->ncache++;
	}
	free(e->ref);
	e->ref = dup_opt(ref);
	json_decref(e->doc);
	e->doc = doc ? json_deep_copy(doc) : NULL;
	e->fetched_ms = t0_now_ms();
}

size_t backstage_cached(const struct backstage *bs)
{
	size_t n = 0;

	for (const struct bs_entry *e = bs ? bs->cache : NULL; e; e = e->next)
		n += e->doc != NULL;
	return n;
}

/* ---- the catalog model ---- */

/* Drops what the catalog computes (relations, status); the model derives its own. */
static json_t *entity_for_model(const json_t *doc)
{
	json_t *copy = json_deep_copy(doc);

	if (copy) {
		json_object_del(copy, "relations");
		json_object_del(copy, "status");
	}
	return copy;
}

/*
 * Puts one entity into the catalog. A local file's entity with the same ref
 * wins. Returns 1 when the catalog changed.
 */
static int model_put(struct backstage *bs, const json_t *doc)
{
	struct catalog *cat = bs->b->world->cat;
	json_t *e = entity_for_model(doc);
	char err[512];
	int replaced = 0, rc, changed = 0;
	const char *kind = json_string_value(json_object_get(e, "kind"));
	const json_t *md = json_object_get(e, "metadata");
	const char *name = json_string_value(json_object_get(md, "name"));
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	char ref[600];
	struct cat_entity *have;

	if (!e || !kind || !name) {
		json_decref(e);
		return 0;
	}
	snprintf(ref, sizeof(ref), "%s:%s/%s", kind, ns ? ns : "default", name);
	have = catalog_get(cat, ref);
	if (have && (!have->file || strcmp(have->file, BACKSTAGE_FILE) != 0)) {
		json_decref(e);
		return 0;
	}
	rc = catalog_put(cat, e, BACKSTAGE_FILE, 0, &replaced, err, sizeof(err));
	if (rc == T0_OK)
		changed = 1;
	else
		log_warn("backstage", "entity_refused", "ref=%s error=%s", ref, err);
	json_decref(e);
	return changed;
}

/* After a reload the catalog is new: put the cached entities back. Returns 1 when it changed. */
static int model_sync(struct backstage *bs)
{
	struct catalog *cat = bs->b->world->cat;
	int changed = 0;

	for (struct bs_entry *e = bs->cache; e; e = e->next)
		if (e->doc && e->ref && !catalog_get(cat, e->ref))
			changed |= model_put(bs, e->doc);
	return changed;
}

static void model_finish(struct backstage *bs)
{
	if (catalog_finish(bs->b->world->cat) != T0_OK)
		log_err("backstage", "catalog_finish_failed", "entities=%zu",
			catalog_count(bs->b->world->cat));
}

/* ---- requests ---- */

static void op_step(struct bs_op *op);

static void bs_maybe_free(struct backstage *bs)
{
	if (!bs->free_pending || bs->handles > 0 || bs->ops)
		return;
	while (bs->cache) {
		struct bs_entry *e = bs->cache;

		bs->cache = e->next;
		entry_free(e);
	}
	free(bs->base);
	memset(bs->auth, 0, sizeof(bs->auth));
	free(bs);
}

static void op_closed(uv_handle_t *h)
{
	struct bs_op *op = h->data;
	struct backstage *bs = op->bs;

	free(op);
	bs->handles--;
	bs_maybe_free(bs);
}

static void op_finish(struct bs_op *op, int rc)
{
	struct backstage *bs = op->bs;
	char labels[64];

	if (op->done)
		return;
	op->done = 1;
	snprintf(labels, sizeof(labels), "result=\"%s\"", rc == T0_OK ? "ok" : t0_rc_str(rc));
	metrics_counter_add("tier0_backstage_lookups_total", labels, 1);
	if (op->cb)
		op->cb(op->arg, rc, rc == T0_OK ? op->entity_name : NULL);
	if (op->prev)
		op->prev->next = op->next;
	else if (bs->ops == op)
		bs->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	free(op->service);
	free(op->pd_sid);
	free(op->entity_ref);
	free(op->entity_name);
	uv_close((uv_handle_t *)&op->timer, op_closed);
}

static long op_left(const struct bs_op *op)
{
	uint64_t now = t0_mono_ns();

	return now >= op->deadline_ns ? 0 : (long)((op->deadline_ns - now) / 1000000);
}

static void on_http(const struct http_resp *resp, void *arg);

static int op_get(struct bs_op *op, const char *method, const char *path, const char *body)
{
	struct backstage *bs = op->bs;
	const char *headers[4];
	size_t nh = 0;
	char url[BS_URL];
	struct http_req req = { 0 };
	long left = op_left(op);

	if (left <= 0)
		return T0_ETIMEOUT;
	snprintf(url, sizeof(url), "%s%s", bs->base, path);
	if (bs->auth[0])
		headers[nh++] = bs->auth;
	headers[nh++] = "Accept: application/json";
	if (body)
		headers[nh++] = "Content-Type: application/json";
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.nheaders = nh;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.timeout_ms = left;
	req.deadline_ms = left;
	req.max_response_bytes = BS_MAX_RESPONSE;
	req.max_retries = 1;
	req.retry_5xx = 1;
	return http_request_ex(bs->loop, &req, on_http, op, &op->call);
}

/* "group:default/team-a" -> kind, namespace, name for a by-name path. */
static int ref_path(const char *ref, char *out, size_t len)
{
	const char *colon = strchr(ref, ':'), *slash = colon ? strchr(colon, '/') : NULL;
	char kind[64], ns[128], name[256], ek[200], ens[400], en[800];

	if (!colon || !slash || (size_t)(colon - ref) >= sizeof(kind) ||
	    (size_t)(slash - colon - 1) >= sizeof(ns) || strlen(slash + 1) >= sizeof(name))
		return T0_EINVAL;
	memcpy(kind, ref, (size_t)(colon - ref));
	kind[colon - ref] = '\0';
	memcpy(ns, colon + 1, (size_t)(slash - colon - 1));
	ns[slash - colon - 1] = '\0';
	snprintf(name, sizeof(name), "%s", slash + 1);
	if (t0_url_encode(kind, ek, sizeof(ek)) != 0 || t0_url_encode(ns, ens, sizeof(ens)) != 0 ||
	    t0_url_encode(name, en, sizeof(en)) != 0)
		return T0_EINVAL;
	snprintf(out, len, "/entities/by-name/%s/%s/%s", ek, ens, en);
	return T0_OK;
}

static const char *owner_ref(const json_t *doc, char *out, size_t len)
{
	const char *owner = json_string_value(json_object_get(json_object_get(doc, "spec"), "owner"));
	const char *ns = json_string_value(json_object_get(json_object_get(doc, "metadata"),
							   "namespace"));
	char *canon;

	if (!owner)
		return NULL;
	canon = catalog_ref_parse(owner, "group", ns ? ns : "default");
	if (!canon)
		return NULL;
	snprintf(out, len, "%s", canon);
	free(canon);
	return out;
}

/* The component was found: cache it, put it in the model, go on to its owner. */
static void got_entity(struct bs_op *op, const json_t *doc)
{
	const json_t *md = json_object_get(doc, "metadata");
	const char *name = json_string_value(json_object_get(md, "name"));
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	char key[700], *ref;

	if (!name || !kind) {
		op->step = ST_DONE;
		op->rc = T0_EPARSE;
		return;
	}
	snprintf(key, sizeof(key), "%s:%s/%s", kind, ns ? ns : "default", name);
	ref = catalog_ref_parse(key, NULL, NULL);
	if (!ref) {
		op->step = ST_DONE;
		op->rc = T0_EPARSE;
		return;
	}
	free(op->entity_ref);
	free(op->entity_name);
	op->entity_ref = ref;
	op->entity_name = strdup(name);
	snprintf(key, sizeof(key), "ref:%s", ref);
	cache_put(op->bs, key, ref, doc);
	if (op->service) {
		snprintf(key, sizeof(key), "name:%s", op->service);
		cache_put(op->bs, key, ref, NULL);
	}
	if (op->pd_sid) {
		snprintf(key, sizeof(key), "pd:%s", op->pd_sid);
		cache_put(op->bs, key, ref, NULL);
	}
	model_put(op->bs, doc);
	op->step = ST_OWNER;
}

static void handle_members(struct bs_op *op, const json_t *body)
{
	const json_t *items = json_object_get(body, "items"), *u;
	size_t i;
	char key[700];

	json_array_foreach(items, i, u) {
		const json_t *md = json_object_get(u, "metadata");
		const char *name = json_string_value(json_object_get(md, "name"));
		const char *ns = json_string_value(json_object_get(md, "namespace"));

		if (!json_is_object(u) || !name)
			continue; /* null: the ref does not exist */
		snprintf(key, sizeof(key), "ref:user:%s/%s", ns ? ns : "default", name);
		for (char *p = key; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		cache_put(op->bs, key, key + 4, u);
		model_put(op->bs, u);
	}
}

/* Next request of the chain, or the end. */
static void op_step(struct bs_op *op)
{
	struct backstage *bs = op->bs;
	char path[BS_URL], enc[800], key[700];
	int rc = T0_OK;

	if (bs->closing) {
		op_finish(op, T0_ECLOSED);
		return;
	}
	switch (op->step) {
	case ST_BY_PD:
		if (t0_url_encode(op->pd_sid, enc, sizeof(enc)) != 0) {
			rc = T0_EINVAL;
			break;
		}
		snprintf(path, sizeof(path),
			 "/entities/by-query?filter=kind%%3Dcomponent%%2Cmetadata.annotations."
			 "pagerduty.com%%2Fservice-id%%3D%s&limit=1",
			 enc);
		rc = op_get(op, "GET", path, NULL);
		break;
	case ST_BY_NAME:
		if (t0_url_encode(op->service, enc, sizeof(enc)) != 0) {
			rc = T0_EINVAL;
			break;
		}
		snprintf(path, sizeof(path), "/entities/by-name/component/default/%s", enc);
		rc = op_get(op, "GET", path, NULL);
		break;
	case ST_BY_NAME_QUERY:
		if (t0_url_encode(op->service, enc, sizeof(enc)) != 0) {
			rc = T0_EINVAL;
			break;
		}
		snprintf(path, sizeof(path),
			 "/entities/by-query?filter=kind%%3Dcomponent%%2Cmetadata.name%%3D%s&limit=1",
			 enc);
		rc = op_get(op, "GET", path, NULL);
		break;
	case ST_OWNER: {
		struct bs_entry *ce;
		const char *oref;

		snprintf(key, sizeof(key), "ref:%s", op->entity_ref);
		ce = cache_get(bs, key);
		oref = ce && ce->doc ? owner_ref(ce->doc, key, sizeof(key)) : NULL;
		if (!oref) {
			op->step = ST_DONE;
			op_step(op);
			return;
		}
		{
			char ckey[720];
			struct bs_entry *oe;

			snprintf(ckey, sizeof(ckey), "ref:%s", oref);
			oe = cache_get(bs, ckey);
			if (oe && oe->doc && fresh(oe)) {
				op->step = ST_MEMBERS;
				op_step(op);
				return;
			}
		}
		rc = ref_path(oref, path, sizeof(path));
		if (rc == T0_OK)
			rc = op_get(op, "GET", path, NULL);
		break;
	}
	case ST_MEMBERS: {
		struct bs_entry *ce, *ge;
		const char *oref;
		char gkey[720];
		const json_t *rels, *r;
		json_t *refs = json_array(), *req;
		char *text;
		size_t i;

		snprintf(key, sizeof(key), "ref:%s", op->entity_ref);
		ce = cache_get(bs, key);
		oref = ce && ce->doc ? owner_ref(ce->doc, key, sizeof(key)) : NULL;
		snprintf(gkey, sizeof(gkey), "ref:%s", oref ? oref : "");
		ge = oref ? cache_get(bs, gkey) : NULL;
		rels = ge && ge->doc ? json_object_get(ge->doc, "relations") : NULL;
		json_array_foreach(rels, i, r) {
			const char *type = json_string_value(json_object_get(r, "type"));
			const char *target = json_string_value(json_object_get(r, "targetRef"));

			if (type && target && strcmp(type, "hasMember") == 0 &&
			    json_array_size(refs) < BS_MAX_MEMBERS)
				json_array_append_new(refs, json_string(target));
		}
		if (!json_array_size(refs)) {
			json_decref(refs);
			op->step = ST_DONE;
			op_step(op);
			return;
		}
		req = json_pack("{so}", "entityRefs", refs);
		text = req ? json_dumps(req, JSON_COMPACT) : NULL;
		json_decref(req);
		rc = text ? op_get(op, "POST", "/entities/by-refs", text) : T0_ENOMEM;
		free(text);
		break;
	}
	case ST_DONE:
	default:
		if (model_sync(bs) || op->entity_ref)
			model_finish(bs);
		op_finish(op, op->entity_name ? T0_OK : op->rc ? op->rc : T0_ENOTFOUND);
		return;
	}
	if (rc != T0_OK) {
		op->rc = rc;
		op->step = ST_DONE;
		op_step(op);
	}
}

static void on_http(const struct http_resp *resp, void *arg)
{
	struct bs_op *op = arg;
	json_t *body = NULL;
	char key[700];

	op->call = NULL;
	if (resp->rc != T0_OK) {
		op->rc = resp->rc == T0_ETIMEOUT ? T0_ETIMEOUT
			 : resp->rc == T0_ECLOSED ? T0_ECLOSED
						  : T0_EHTTP;
		op->step = ST_DONE;
		op_step(op);
		return;
	}
	if (resp->body_len)
		body = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (resp->status == 404) {
		json_decref(body);
		switch (op->step) {
		case ST_BY_NAME:
			op->step = ST_BY_NAME_QUERY;
			break;
		case ST_OWNER:
		case ST_MEMBERS:
			op->step = ST_DONE;
			break;
		default:
			op->step = ST_DONE;
			break;
		}
		op_step(op);
		return;
	}
	if (resp->status < 200 || resp->status > 299 || !body) {
		log_warn("backstage", "http_error", "status=%ld step=%d", resp->status, op->step);
		op->rc = !body && resp->status >= 200 && resp->status <= 299 ? T0_EPARSE : T0_EHTTP;
		json_decref(body);
		/* A component already found stands; only what follows is lost. */
		op->step = ST_DONE;
		op_step(op);
		return;
	}
	switch (op->step) {
	case ST_BY_PD:
	case ST_BY_NAME_QUERY: {
		const json_t *first = json_array_get(json_object_get(body, "items"), 0);

		if (json_is_object(first)) {
			got_entity(op, first);
		} else if (op->step == ST_BY_PD && op->service) {
			op->step = ST_BY_NAME;
		} else {
			if (op->service) {
				snprintf(key, sizeof(key), "name:%s", op->service);
				cache_put(op->bs, key, NULL, NULL);
			}
			op->step = ST_DONE;
		}
		break;
	}
	case ST_BY_NAME:
		got_entity(op, body);
		break;
	case ST_OWNER: {
		const json_t *md = json_object_get(body, "metadata");
		const char *name = json_string_value(json_object_get(md, "name"));
		const char *ns = json_string_value(json_object_get(md, "namespace"));

		if (name) {
			snprintf(key, sizeof(key), "ref:group:%s/%s", ns ? ns : "default", name);
			for (char *p = key; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			cache_put(op->bs, key, key + 4, body);
			model_put(op->bs, body);
		}
		op->step = ST_MEMBERS;
		break;
	}
	case ST_MEMBERS:
		handle_members(op, body);
		op->step = ST_DONE;
		break;
	default:
		op->step = ST_DONE;
		break;
	}
	json_decref(body);
	op_step(op);
}

static void on_start(uv_timer_t *t)
{
	op_step(t->data);
}

int backstage_resolve(struct backstage *bs, const char *service, const char *pd_service_id,
		      long timeout_ms, backstage_cb cb, void *arg)
{
	struct bs_op *op;
	struct bs_entry *hit = NULL;
	char key[700];

	if (!bs || bs->closing)
		return T0_ECLOSED;
	if ((!service || !*service) && (!pd_service_id || !*pd_service_id))
		return T0_EINVAL;
	op = calloc(1, sizeof(*op));
	if (!op)
		return T0_ENOMEM;
	op->bs = bs;
	op->service = service && *service ? strdup(service) : NULL;
	op->pd_sid = pd_service_id && *pd_service_id ? strdup(pd_service_id) : NULL;
	op->cb = cb;
	op->arg = arg;
	op->deadline_ns = t0_mono_ns() +
			  (uint64_t)(timeout_ms > 0 ? timeout_ms : BS_DEFAULT_TIMEOUT_MS) * 1000000;
	op->step = op->pd_sid ? ST_BY_PD : ST_BY_NAME;
	/* A fresh answer from the cache: no request, but still an answer on a later turn. */
	if (op->pd_sid) {
		snprintf(key, sizeof(key), "pd:%s", op->pd_sid);
		hit = cache_get(bs, key);
	}
	if ((!hit || !fresh(hit)) && op->service) {
		snprintf(key, sizeof(key), "name:%s", op->service);
		hit = cache_get(bs, key);
	}
	if (hit && fresh(hit)) {
		struct bs_entry *ent = NULL;

		if (hit->ref) {
			snprintf(key, sizeof(key), "ref:%s", hit->ref);
			ent = cache_get(bs, key);
		}
		if (hit->ref && ent && ent->doc && fresh(ent)) {
			const char *name = json_string_value(
				json_object_get(json_object_get(ent->doc, "metadata"), "name"));

			op->entity_ref = strdup(hit->ref);
			op->entity_name = dup_opt(name);
			metrics_counter_add("tier0_backstage_cache_hits_total", NULL, 1);
		}
		if (!hit->ref || (op->entity_ref && op->entity_name))
			op->step = ST_DONE;
	}
	uv_timer_init(loop_uv(bs->loop), &op->timer);
	op->timer.data = op;
	op->timer_init = 1;
	bs->handles++;
	op->next = bs->ops;
	if (bs->ops)
		bs->ops->prev = op;
	bs->ops = op;
	uv_timer_start(&op->timer, on_start, 0, 0);
	return T0_OK;
}

struct backstage *backstage_new(struct bot *b, struct t0_loop *loop, const char *url,
				const char *token)
{
	struct backstage *bs;
	size_t n;

	if (!b || !loop || !url)
		return NULL;
	bs = calloc(1, sizeof(*bs));
	if (!bs)
		return NULL;
	bs->b = b;
	bs->loop = loop;
	n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	bs->base = malloc(n + sizeof("/api/catalog"));
	if (!bs->base) {
		free(bs);
		return NULL;
	}
	memcpy(bs->base, url, n);
	bs->base[n] = '\0';
	if (n < 12 || strcmp(bs->base + n - 12, "/api/catalog") != 0)
		strcat(bs->base, "/api/catalog");
	if (token && *token &&
	    (size_t)snprintf(bs->auth, sizeof(bs->auth), "Authorization: Bearer %s", token) >=
		    sizeof(bs->auth)) {
		free(bs->base);
		free(bs);
		return NULL;
	}
	return bs;
}

int backstage_start(struct backstage *bs)
{
	return bs ? T0_OK : T0_EINVAL;
}

void backstage_shutdown(struct backstage *bs)
{
	if (!bs || bs->closing)
		return;
	bs->closing = 1;
	while (bs->ops) {
		struct bs_op *op = bs->ops;

		if (op->call) {
			http_cancel(op->call); /* on_http finishes it */
			continue;
		}
		uv_timer_stop(&op->timer);
		op_finish(op, T0_ECLOSED);
	}
}

void backstage_free(struct backstage *bs)
{
	if (!bs)
		return;
	backstage_shutdown(bs);
	bs->free_pending = 1;
	bs_maybe_free(bs);
}

/* ---- the "Backstage" context source ---- */

struct bs_lookup {
	incident_src_cb cb;
	void *arg;
};

static void lookup_done(void *arg, int rc, const char *name)
{
	struct bs_lookup *l = arg;
	struct incident_src_result res;

	memset(&res, 0, sizeof(res));
	switch (rc) {
	case T0_OK:
		res.status = INC_SRC_OK;
		snprintf(res.entity_name, sizeof(res.entity_name), "%s", name);
		break;
	case T0_ENOTFOUND:
		res.status = INC_SRC_NODATA;
		snprintf(res.msg, sizeof(res.msg), "not in the Backstage catalog");
		break;
	case T0_ETIMEOUT:
		res.status = INC_SRC_TIMEOUT;
		snprintf(res.msg, sizeof(res.msg), "timed out");
		break;
	default:
		res.status = INC_SRC_FAILED;
		snprintf(res.msg, sizeof(res.msg), "%s", t0_rc_str(rc));
		break;
	}
	l->cb(l->arg, &res);
	free(l);
}

static int bs_source_lookup(void *state, const struct incident_query *q, incident_src_cb cb,
			    void *arg)
{
	struct bs_lookup *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return T0_ENOMEM;
	l->cb = cb;
	l->arg = arg;
	rc = backstage_resolve(state, q->service, q->pd_service_id, q->timeout_ms, lookup_done, l);
	if (rc != T0_OK)
		free(l);
	return rc;
}

int backstage_incident_source(struct backstage *bs, struct incident_source *out)
{
	if (!bs || !out)
		return T0_EINVAL;
	memset(out, 0, sizeof(*out));
	out->name = "Backstage";
	out->roles = INC_SRC_CATALOG;
	out->lookup = bs_source_lookup;
	out->state = bs;
	return T0_OK;
}
