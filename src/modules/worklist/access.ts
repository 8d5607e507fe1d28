import type { Principal } from '../../platform/auth/tokens.ts';
import { badRequest, forbidden } from '../../platform/http/problems.ts';

/** The facilities a token may see: all of them for an admin, else those named in the token. */
export type FacilityScope = { kind: 'all' } | { kind: 'some'; facilities: string[] };

export function facilityScope(principal: Principal): FacilityScope {
  return principal.role === 'admin' ? { kind: 'all' } : { kind: 'some', facilities: principal.facilities };
}

export function canSee(scope: FacilityScope, facilityId: string): boolean {
  return scope.kind === 'all' || scope.facilities.includes(facilityId);
}

/**
 * The facility a worklist page is for. A token that sees one facility defaults to it; one that sees
 * several must say which (a page across facilities could not use the per-facility index); an admin
 * may omit it to see every facility.
 */
export function worklistFacility(scope: FacilityScope, requested: string | undefined): string | undefined {
  if (requested !== undefined) {
    if (!canSee(scope, requested)) throw forbidden(`this token does not see facility ${requested}`);
    return requested;
  }
  if (scope.kind === 'all') return undefined;
  const [only, ...others] = scope.facilities;
  if (only === undefined) throw forbidden('this token sees no facility; mint one with --facility');
  if (others.length > 0) {
    throw badRequest('facilityId is required: this token sees several facilities', [
      { field: 'querystring.facilityId', message: 'is required for a token that sees several facilities' },
    ]);
  }
  return only;
}
