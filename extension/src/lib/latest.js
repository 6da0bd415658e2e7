/**
 * Asks of which only the latest may show its answer: a list searched as the user types, where an older, slower
 * answer must not overwrite a newer one.
 */

export class Latest {
  constructor() {
    this.asked = 0;
  }

  /**
   * Ask, and learn whether this was still the latest ask when the answer came. A failure of an ask overtaken by a
   * later one is dropped with it; a failure of the latest is thrown.
   * @template T
   * @param {() => Promise<T>} ask
   * @returns {Promise<{current: true, value: T} | {current: false}>}
   */
  async run(ask) {
    const mine = ++this.asked;
    let value;
    try {
      value = await ask();
    } catch (e) {
      if (mine !== this.asked) return {current: false};
      throw e;
    }
    return mine === this.asked ? {current: true, value} : {current: false};
  }
}
