//! Balances: mint, transfer, and the debit/credit every other action goes through.

use super::{Ctx, State};
use crate::ids::{AccountId, Amount};
use crate::rejection::Rejection;

impl State {
    pub(super) fn debit(&mut self, who: AccountId, amount: Amount) -> Result<(), Rejection> {
        let available = self.balance(&who);
        let left = available
            .checked_sub(amount)
            .ok_or(Rejection::InsufficientBalance {
                needed: amount,
                available,
            })?;
        if left.is_zero() {
            // Zero balances are not stored, so equal ledgers have equal roots.
            self.balances.remove(&who);
        } else {
            self.balances.insert(who, left);
        }
        Ok(())
    }

    pub(super) fn credit(&mut self, who: AccountId, amount: Amount) -> Result<(), Rejection> {
        if amount.is_zero() {
            return Ok(());
        }
        // Cannot overflow while conservation holds (no balance exceeds the
        // supply, which is checked at mint); checked all the same.
        let new = self
            .balance(&who)
            .checked_add(amount)
            .ok_or(Rejection::Overflow { what: "balance" })?;
        self.balances.insert(who, new);
        Ok(())
    }

    pub(super) fn mint(
        &mut self,
        ctx: &Ctx,
        to: AccountId,
        amount: Amount,
    ) -> Result<(), Rejection> {
        if ctx.signer != self.minter {
            return Err(Rejection::NotMinter);
        }
        if amount.is_zero() {
            return Err(Rejection::ZeroAmount);
        }
        self.supply.minted = self
            .supply
            .minted
            .checked_add(amount)
            .ok_or(Rejection::Overflow {
                what: "total supply",
            })?;
        self.credit(to, amount)
    }

    pub(super) fn transfer(
        &mut self,
        ctx: &Ctx,
        to: AccountId,
        amount: Amount,
    ) -> Result<(), Rejection> {
        if amount.is_zero() {
            return Err(Rejection::ZeroAmount);
        }
        self.debit(ctx.signer, amount)?;
        self.credit(to, amount)
    }
}
