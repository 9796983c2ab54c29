/* Table responses (meta.k8s.io/v1 Table): the column definitions of a
 * resource and one row per object, with the object as
 * PartialObjectMetadata, in full, or not at all. */
#include "control/api.h"
#include "control/api_crd.h"

json_t *api_table_new(const struct api_resource *r, bool include_columns)
{
	json_t *cols = json_array();
	const struct api_column *c = r->columns ? r->columns : api_default_columns;
	size_t n = r->columns ? r->n_columns : api_n_default_columns;

	for (size_t i = 0; include_columns && i < n; i++)
		json_array_append_new(cols, json_pack("{s:s,s:s,s:s,s:s,s:i}", "name", c[i].name,
						      "type", c[i].type, "format", c[i].format,
						      "description", c[i].description, "priority",
						      c[i].priority));
	return json_pack("{s:s,s:s,s:{},s:o,s:[]}", "kind", "Table", "apiVersion",
			 "meta.k8s.io/v1", "metadata", "columnDefinitions", cols, "rows");
}

int api_table_add_row(const struct api_resource *r, json_t *table, json_t *obj, int include,
		      time_t now)
{
	json_t *cells = json_array(), *row, *meta = json_object_get(obj, "metadata");

	if (r->crd)
		api_crd_row_cells(r, obj, now, cells);
	else if (r->cells)
		r->cells(obj, now, cells);
	else
		api_default_cells(obj, now, cells);
	row = json_pack("{s:o}", "cells", cells);
	if (include > 0)
		json_object_set(row, "object", obj);
	else if (include == 0)
		json_object_set_new(row, "object",
				    json_pack("{s:s,s:s,s:o}", "kind", "PartialObjectMetadata",
					      "apiVersion", "meta.k8s.io/v1", "metadata",
					      meta ? json_incref(meta) : json_object()));
	return json_array_append_new(json_object_get(table, "rows"), row);
}
