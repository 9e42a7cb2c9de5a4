/**
 * Linear sum assignment (the Hungarian algorithm, Kuhn–Munkres, in the O(r²·c) shortest
 * augmenting path form with row/column potentials u, v): for a cost matrix C [r, c], find the
 * one-to-one pairing of min(r, c) rows with distinct columns that minimises Σ C[i, σ(i)].
 *
 * Invariants (for the r ≤ c orientation): u_i + v_j ≤ C[i, j] for every pair, with equality on the
 * matched pairs; each phase adds one row by a Dijkstra-like search over reduced costs
 * C[i, j] − u_i − v_j ≥ 0 and augments along the shortest path. Same contract as
 * scipy.optimize.linear_sum_assignment: row indices ascending, `maximize` negates the costs.
 * With ties the optimum is not unique; the total cost is.
 *
 * Used to match clusters to classes (maximise the overlap counts of the contingency table), for
 * the matched-colour maps and the cluster accuracy of src/tasks/metrics.ts.
 */

export interface Assignment {
  /** Row of each pair, ascending. */
  rows: Int32Array;
  /** Column matched to rows[t]. */
  cols: Int32Array;
  /** Σ C[rows[t], cols[t]] (of the original, not negated, costs). */
  total: number;
}

/** Min-cost (or with `maximize`, max-score) assignment of a row-major cost matrix [r, c]. */
export function linearSumAssignment(cost: ArrayLike<number>, r: number, c: number, options: { maximize?: boolean } = {}): Assignment {
  if (!(Number.isInteger(r) && Number.isInteger(c) && r >= 0 && c >= 0)) throw new Error(`linearSumAssignment: bad shape [${r}, ${c}]`);
  if (cost.length !== r * c) throw new Error(`linearSumAssignment: ${cost.length} costs for a ${r}×${c} matrix`);
  for (let i = 0; i < cost.length; i++) if (!Number.isFinite(cost[i]!)) throw new Error(`linearSumAssignment: cost ${cost[i]} at [${Math.floor(i / c)}, ${i % c}] is not finite`);
  if (r === 0 || c === 0) return { rows: new Int32Array(0), cols: new Int32Array(0), total: 0 };
  const sign = options.maximize ? -1 : 1;
  // Work with n ≤ m rows ≤ columns; transpose when needed.
  const t = r > c;
  const n = t ? c : r, m = t ? r : c;
  const a = (i: number, j: number) => sign * (t ? cost[j * c + i]! : cost[i * c + j]!);
  // 1-based arrays as in the classic formulation; index 0 is the virtual start column.
  const u = new Float64Array(n + 1), v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j] = row matched to column j (0 = none)
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity, j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = a(i0 - 1, j - 1) - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]!] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const pairs: [number, number][] = [];
  for (let j = 1; j <= m; j++) {
    if (p[j] === 0) continue;
    const i = p[j]! - 1;
    pairs.push(t ? [j - 1, i] : [i, j - 1]);
  }
  pairs.sort((x, y) => x[0] - y[0]);
  let total = 0;
  for (const [i, j] of pairs) total += cost[i * c + j]!;
  return { rows: Int32Array.from(pairs, (q) => q[0]), cols: Int32Array.from(pairs, (q) => q[1]), total };
}
