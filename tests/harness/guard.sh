# The route metric of a run's guard routes, for lib.sh (guard_ranges) and
# leftovers.sh: unreachable routes of metric 4000-4999, one metric per run
# tag, so two runs guarding the same range on one machine neither collide
# nor take each other's routes for their own leftovers.

# guard_metric TAG: prints the metric of TAG's guard routes.
guard_metric() {
	local sum
	sum=$(printf '%s' "$1" | cksum)
	echo $(( 4000 + ${sum%% *} % 1000 ))
}
