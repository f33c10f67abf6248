// The scalar JavaScript kernels under the PCA: blocked dot products of rows (the covariance of small batches) and
// column means.
// Rows packed per kernel call: the packed dim x CHUNK_ROWS float64 block (1.3 MB at dim 1280) stays in L2/L3.
export const CHUNK_ROWS = 128;
// accumulateDots walks x in blocks of X_BLOCK rows and y in blocks of Y_BLOCK rows; callers pad with zero rows.
export const X_BLOCK = 3;
export const Y_BLOCK = 4;

export const roundUp = (n: number, multiple: number) => Math.ceil(n / multiple) * multiple;

/**
 * out[i * outStride + j] += dot(x row i, y row j) over rows of length len (xRows a multiple of 3, yRows of 4).
 * A 3x4 block of dot products keeps its 12 sums in registers and reuses every load 3 or 4 times, which is the
 * fastest shape measured for scalar JS. With upperOnly (x === y), blocks entirely below the diagonal are skipped.
 */
export function accumulateDots(
  x: Float64Array,
  xRows: number,
  y: Float64Array,
  yRows: number,
  len: number,
  out: Float64Array,
  outStride: number,
  upperOnly: boolean,
): void {
  for (let ib = 0; ib < xRows; ib += X_BLOCK) {
    const a0 = ib * len;
    const a1 = a0 + len;
    const a2 = a1 + len;
    for (let jb = upperOnly ? ib - (ib % Y_BLOCK) : 0; jb < yRows; jb += Y_BLOCK) {
      const b0 = jb * len;
      const b1 = b0 + len;
      const b2 = b1 + len;
      const b3 = b2 + len;
      let s00 = 0,
        s01 = 0,
        s02 = 0,
        s03 = 0;
      let s10 = 0,
        s11 = 0,
        s12 = 0,
        s13 = 0;
      let s20 = 0,
        s21 = 0,
        s22 = 0,
        s23 = 0;
      for (let r = 0; r < len; r++) {
        const y0 = y[b0 + r],
          y1 = y[b1 + r],
          y2 = y[b2 + r],
          y3 = y[b3 + r];
        let v = x[a0 + r];
        s00 += v * y0;
        s01 += v * y1;
        s02 += v * y2;
        s03 += v * y3;
        v = x[a1 + r];
        s10 += v * y0;
        s11 += v * y1;
        s12 += v * y2;
        s13 += v * y3;
        v = x[a2 + r];
        s20 += v * y0;
        s21 += v * y1;
        s22 += v * y2;
        s23 += v * y3;
      }
      let o = ib * outStride + jb;
      out[o] += s00;
      out[o + 1] += s01;
      out[o + 2] += s02;
      out[o + 3] += s03;
      o += outStride;
      out[o] += s10;
      out[o + 1] += s11;
      out[o + 2] += s12;
      out[o + 3] += s13;
      o += outStride;
      out[o] += s20;
      out[o + 1] += s21;
      out[o + 2] += s22;
      out[o + 3] += s23;
    }
  }
}

/** Float64 mean of each of the `dim` columns of `count` (> 0) row-major rows. */
export function columnMeans(rows: Float32Array | Float64Array, count: number, dim: number): Float64Array {
  const means = new Float64Array(dim);
  let r = 0;
  // Four rows per pass quarter the loads and stores of the sums (twice as fast).
  for (; r + 4 <= count; r += 4) {
    const b0 = r * dim,
      b1 = b0 + dim,
      b2 = b1 + dim,
      b3 = b2 + dim;
    for (let i = 0; i < dim; i++) means[i] += rows[b0 + i] + rows[b1 + i] + rows[b2 + i] + rows[b3 + i];
  }
  for (; r < count; r++) {
    const base = r * dim;
    for (let i = 0; i < dim; i++) means[i] += rows[base + i];
  }
  for (let i = 0; i < dim; i++) means[i] /= count;
  return means;
}
