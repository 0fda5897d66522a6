//! Who may read an artifact: from provenance and jobs, never from naming a hash.
//!
//! What the log names a hash as is one index lookup ([`State::artifact_use`]):
//! a training set or a published model is public; a hidden set or a submission's model file is
//! sealed until its bounty closes, then public. A sealed artifact may be read
//! by the accounts that uploaded those bytes (the store records an uploader
//! only after it received and hashed them) and by an evaluator holding a
//! lease that needs it now. Leases exist only once a bounty's submissions have
//! ended, so before the deadline nobody but the uploaders can read a hidden
//! set or a model. An artifact the log does not name is its uploaders' alone.

use bounties::state::records::ArtifactUse;
use bounties::{AccountId, BountyId, Hash32, State};

/// The read rule for one artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Anyone.
    Public,
    /// Its uploaders, and evaluators leased a job of this open bounty that needs it.
    Sealed(BountyId),
    /// Its uploaders only.
    Private,
}

/// The rule for `hash` in `state`.
pub fn visibility(state: &State, hash: &Hash32) -> Visibility {
    let bounty = match state.artifact_use(hash) {
        None => return Visibility::Private,
        Some(ArtifactUse::TrainSet(_) | ArtifactUse::Published(_)) => return Visibility::Public,
        Some(ArtifactUse::HiddenSet(b)) => b,
        Some(ArtifactUse::ModelFile(s)) => match state.submission(s) {
            Some(s) => s.bounty,
            None => return Visibility::Private,
        },
    };
    match state.bounty(bounty) {
        Some(b) if !b.is_sealed() => Visibility::Public,
        _ => Visibility::Sealed(bounty),
    }
}

/// Whether `reader` may read an artifact with this rule, these uploaders,
/// and (`leased`) a lease in force that names it.
pub fn may_read(
    rule: &Visibility,
    uploaders: &[AccountId],
    leased: bool,
    reader: Option<&AccountId>,
) -> bool {
    match (rule, reader) {
        (Visibility::Public, _) => true,
        (_, None) => false,
        (Visibility::Sealed(_), Some(r)) => uploaders.contains(r) || leased,
        (Visibility::Private, Some(r)) => uploaders.contains(r),
    }
}
