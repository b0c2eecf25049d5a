import { InvalidArgumentError } from '../../util/errors.ts';
import { bodyObject } from './json-fields.ts';

/** Whether a JSON value is Go's zero value for its field (what a client sends for "leave as is"). */
function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === 0 || v === '' || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v as Record<string, unknown>).every(isZero);
  return false;
}

/**
 * `POST /containers/{id}/update`. Berth cannot change a container's resources or restart policy
 * after create yet, so any field that asks for a change is refused by name; an empty update is fine.
 */
export function decodeUpdate(body: unknown): void {
  const b = bodyObject(body, 'container.UpdateConfig');
  const asked = Object.entries(b)
    .filter(([, v]) => !isZero(v))
    .map(([k]) => k);
  if (asked.length)
    throw new InvalidArgumentError(
      `updating ${asked.join(', ')} is not supported by Berth: recreate the container with the new settings`,
    );
}
