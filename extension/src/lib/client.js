/** How a page asks the service worker for something: one message, one answer, errors thrown. */

import {ext} from './ext.js';

/** An error the worker passed back, with the API's code ("not_running", "bad_code"...). */
export class WorkerError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {number} status
   */
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * @param {import('./messages.js').MessageId} id
 * @param {unknown} [payload]
 * @returns {Promise<any>}
 */
export async function send(id, payload) {
  /** @type {import('./messages.js').Reply | undefined} */
  const reply = await ext.runtime.sendMessage({id, payload});
  if (!reply) throw new WorkerError('no_reply', 'the extension did not answer', 0);
  if (!reply.ok) throw new WorkerError(reply.error.code, reply.error.message, reply.error.status);
  return reply.value;
}
