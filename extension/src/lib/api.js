/**
 * The client of Sourdine's local API. Only the service worker uses it: it alone holds the token.
 * `fetch` is passed in, so that the tests run it against a real local server.
 */

export const DEFAULT_BASE = 'http://127.0.0.1:8787';

/** An answer of the API that is not a success, in its one error shape, or "not_running" when nothing answers. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when Sourdine did not answer
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/**
 * The API address a person typed, made canonical: http, loopback only, no path.
 * @param {string} text
 * @returns {string}
 */
export function normaliseBase(text) {
  const raw = text.trim();
  let url;
  try {
    url = new URL(/^https?:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new ApiError(0, 'bad_address', `not an address: ${raw}`);
  }
  if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new ApiError(0, 'bad_address', 'Sourdine listens on this computer only: http://127.0.0.1:<port>');
  }
  return `http://${url.host}`;
}

/**
 * @typedef {{method?: string, body?: unknown, raw?: string, contentType?: string, text?: boolean, open?: boolean,
 *            timeoutMs?: number}} RequestOptions
 */

export class Api {
  /**
   * @param {string} base e.g. http://127.0.0.1:8787
   * @param {string | null} token this extension's token, from pairing
   * @param {typeof fetch} fetchFn
   */
  constructor(base, token, fetchFn) {
    this.base = base;
    this.token = token;
    this.fetchFn = fetchFn;
  }

  /**
   * One request. JSON in and out, unless `raw` (a body sent as is) or `text` (the answer read as text).
   * @param {string} path
   * @param {RequestOptions} [options]
   * @returns {Promise<any>}
   */
  async request(path, options = {}) {
    const method = options.method ?? 'GET';
    /** @type {Record<string, string>} */
    const headers = {};
    if (!options.open) {
      if (!this.token) throw new ApiError(401, 'not_paired', 'this extension has not paired with Sourdine');
      headers.Authorization = `Bearer ${this.token}`;
    }
    /** @type {string | undefined} */
    let body;
    if (options.raw !== undefined) {
      body = options.raw;
      headers['Content-Type'] = options.contentType ?? 'application/json';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['Content-Type'] = 'application/json';
    }
    let response;
    try {
      response = await this.fetchFn(this.base + path, {
        method, headers, body, cache: 'no-store', credentials: 'omit', redirect: 'error',
        signal: AbortSignal.timeout(options.timeoutMs ?? 10000),
      });
    } catch {
      throw new ApiError(0, 'not_running', 'Sourdine does not answer');
    }
    if (!response.ok) {
      let code = `http_${response.status}`;
      let message = response.statusText;
      try {
        const data = await response.json();
        code = data.error?.code ?? code;
        message = data.error?.message ?? message;
      } catch {
        // not our error shape: keep the status
      }
      throw new ApiError(response.status, code, message);
    }
    return options.text ? response.text() : response.json();
  }

  /** @param {string} path */
  get(path) {
    return this.request(path);
  }

  /**
   * @param {string} path
   * @param {unknown} body
   */
  post(path, body) {
    return this.request(path, {method: 'POST', body});
  }

  /**
   * @param {string} path
   * @param {unknown} body
   */
  patch(path, body) {
    return this.request(path, {method: 'PATCH', body});
  }

  /**
   * @param {string} path
   * @param {unknown} body
   */
  put(path, body) {
    return this.request(path, {method: 'PUT', body});
  }

  /** @param {string} path */
  delete(path) {
    return this.request(path, {method: 'DELETE'});
  }

  /**
   * Trade a one-time code for a token. Sent from this extension's own origin, without a token.
   * @param {string} code as the person typed it
   * @param {string} name how `sourdine clients list` shows this browser
   * @returns {Promise<{token: string, client: {id: string, name: string, origin: string}}>}
   */
  pair(code, name) {
    return this.request('/api/v1/pair', {method: 'POST', body: {code: code.trim(), name}, open: true});
  }
}

/**
 * The path of one list entry: keys hold colons and may hold slashes or spaces.
 * @param {'mutes' | 'allow'} list
 * @param {string} key
 */
export function entryPath(list, key) {
  return `/api/v1/${list}/${encodeURIComponent(key)}`;
}
